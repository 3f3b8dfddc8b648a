"""Composing app configs in tests exactly as the command line would."""

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from behaviorlab.apps.common import CONF_DIR


def compose_config(config_name: str, overrides: list[str]) -> DictConfig:
    """Compose ``conf/<config_name>.yaml`` with command-line style overrides."""
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR), job_name="test"):
        return compose(config_name=config_name, overrides=overrides)
