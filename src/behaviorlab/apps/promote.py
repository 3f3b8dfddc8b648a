"""behaviorlab-promote: gate a registered version into `champion`, or roll champion back."""

from typing import Any

import hydra
from omegaconf import DictConfig

from behaviorlab.apps.checks import PROMOTE_RULES, check_config
from behaviorlab.apps.common import CONF_DIR, entry_point, exit_on_user_error, to_plain
from behaviorlab.apps.promotion import promote_version, rollback
from behaviorlab.apps.schemas import register_schemas
from behaviorlab.tracking import models, runs


@entry_point
def main() -> None:
    """Console entry point: register the typed schemas, then let Hydra compose and run."""
    register_schemas()
    compose_and_run()


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="promote")
def compose_and_run(cfg: DictConfig) -> None:
    """Promote or roll back with one composed config."""
    run(cfg)


@exit_on_user_error
def run(cfg: DictConfig) -> dict[str, Any]:
    """Promote (gate) or roll back; return what happened.

    Config values and the version reference are checked before any data is read.
    """
    check_config(cfg, PROMOTE_RULES)
    runs.configure(to_plain(cfg.tracking)["tracking_uri"])
    name = cfg.registry.model_name
    if cfg.action == "rollback":
        return {"champion": rollback(name)}
    version = models.resolve_reference(name, str(cfg.version), key="version")
    outcome = promote_version(cfg, name, version)
    print(outcome["decision_line"])
    return outcome


if __name__ == "__main__":
    main()
