"""Descriptions of registered versions: the markdown the registry's version page shows."""

from mlflow.tracking import MlflowClient

from behaviorlab.tracking.models import registry_call


@registry_call
def describe_version(name: str, version: str, markdown: str) -> None:
    """Replace the version's description."""
    MlflowClient().update_model_version(name, version, description=markdown)


@registry_call
def read_description(name: str, version: str) -> str:
    """The version's description ("" when it has none)."""
    return MlflowClient().get_model_version(name, version).description or ""
