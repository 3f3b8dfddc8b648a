"""Typed schemas of every app config and config group, stored in Hydra's ConfigStore.

Each app's primary config lists its schema first (``- train_schema``) and each group yaml
its own (``- base_task``): composing a config with a misspelt key or a wrong type anywhere
fails at start with Hydra's message naming the key.
"""

from hydra.core.config_store import ConfigStore

from behaviorlab.apps.schemas.apps import APP_SCHEMAS, TrainConfig
from behaviorlab.apps.schemas.clv import ClvConfig
from behaviorlab.apps.schemas.groups import GROUP_SCHEMAS

__all__ = ["TrainConfig", "register_schemas"]


def register_schemas() -> None:
    """Make the schemas available to the defaults lists; storing twice replaces in place."""
    store = ConfigStore.instance()
    for name, node in APP_SCHEMAS.items():
        store.store(name=name, node=node)
    store.store(name="clv_schema", node=ClvConfig)
    for group, schemas in GROUP_SCHEMAS.items():
        for name, node in schemas.items():
            store.store(group=group, name=name, node=node)
