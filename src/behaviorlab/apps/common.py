"""What every app shares: turning user errors into one clear message and exit status 2."""

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from behaviorlab.errors import BehaviorlabError

EXIT_USER_ERROR = 2


def exit_on_user_error(run: Callable[..., Any]) -> Callable[..., Any]:
    """Print a BehaviorlabError as one line on stderr and exit 2 instead of a traceback."""

    @functools.wraps(run)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return run(*args, **kwargs)
        except BehaviorlabError as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(EXIT_USER_ERROR)

    return guarded


def to_plain(cfg: DictConfig | None) -> dict | None:
    """Resolve a config node into plain containers that core functions accept."""
    if cfg is None:
        return None
    return OmegaConf.to_container(cfg, resolve=True)


CONF_DIR = Path(__file__).resolve().parents[3] / "conf"


def compose_app(config_name: str, overrides: list[str] | None = None) -> DictConfig:
    """Compose an app's config in-process exactly as its command line would."""
    from hydra import compose, initialize_config_dir

    from behaviorlab.apps.schemas import register_schemas

    register_schemas()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR), job_name="app"):
        return compose(config_name=config_name, overrides=list(overrides or []))
