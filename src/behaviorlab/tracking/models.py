"""Logging a trained model as a pyfunc, registering it and moving its aliases."""

import contextlib
import functools
import importlib.metadata as metadata
import json
import os
import pickle
import re
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature, infer_signature
from mlflow.tracking import MlflowClient
from mlflow.types import ColSpec, Schema
from mlflow.utils.credentials import get_default_host_creds
from mlflow.utils.rest_utils import http_request, verify_rest_response

import behaviorlab
from behaviorlab.errors import ConfigError, RegistryError
from behaviorlab.locks import sqlite_lock
from behaviorlab.scoring.pyfunc import CODE_FILE, MODEL_FILE, SPEC_FILE, score_for_serving

MODEL_NAME_IN_RUN = "model"
# What the pyfunc imports at load and predict time: MLflow, the estimators (LightGBM,
# scikit-learn with SciPy) and the frames (pandas on NumPy, PyArrow for its strings).
SERVING_PACKAGES = ("mlflow", "lightgbm", "scikit-learn", "scipy", "pandas", "numpy", "pyarrow")


def is_missing_alias(error: MlflowException) -> bool:
    """True only for "no such alias" (or no such registered model), nothing else.

    MLflow 3's SQL and file registries raise INVALID_PARAMETER_VALUE with "Registered model
    alias X not found." for a missing alias (the REST API passes the same code through), and
    RESOURCE_DOES_NOT_EXIST when the registered model itself does not exist yet.
    """
    if error.error_code == "RESOURCE_DOES_NOT_EXIST":
        return True
    message = str(error.message).lower()
    return (
        error.error_code == "INVALID_PARAMETER_VALUE"
        and "alias" in message
        and ("not found" in message)
    )


class PermissionRefused(RegistryError):
    """The tracking server refused the caller (HTTP 403): the job stops, moving nothing."""


def is_permission_denied(error: MlflowException) -> bool:
    """True for the server's refusal of an authenticated caller (PERMISSION_DENIED, 403)."""
    return error.error_code == "PERMISSION_DENIED" or error.get_http_status_code() == 403


def registry_call(function: Callable) -> Callable:
    """Turn a registry failure into a RegistryError that stops the app with exit status 1."""

    @functools.wraps(function)
    def guarded(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except MlflowException as error:
            if is_permission_denied(error):
                user = os.environ.get("MLFLOW_TRACKING_USERNAME", "this user")
                raise PermissionRefused(
                    f"{mlflow.get_registry_uri()} refused {user} permission to "
                    f"{function.__name__.replace('_', ' ')} {args}: ask for the role that may"
                ) from None
            raise RegistryError(
                f"model registry failed in {function.__name__}{args}: "
                f"{error.error_code}: {error.message}"
            ) from error

    return guarded


def serving_requirements() -> list[str]:
    """Exact pins of what the pyfunc imports when it loads and predicts, as installed now.

    The model's own requirements.txt: a fresh environment built from it alone (virtualenv
    serving, ``mlflow models build-docker``, another host) loads the pickled model with
    the library versions that wrote it. ``behaviorlab`` itself ships as code, not a pin.
    """
    return [f"{name}=={metadata.version(name)}" for name in SERVING_PACKAGES]


def as_signature_frame(features: pd.DataFrame) -> pd.DataFrame:
    """Feature rows as the signature declares them and a JSON client sends them.

    Categoricals travel as strings (JSON and MLflow schemas know no category dtype);
    integer and boolean columns as doubles, since any of them may be missing at scoring
    time and the model reads every numeric feature as float64 anyway.
    """
    plain = features.copy()
    for name in plain.columns:
        column = plain[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            plain[name] = column.astype("object").where(column.notna(), None)
        elif pd.api.types.is_integer_dtype(column.dtype) or pd.api.types.is_bool_dtype(
            column.dtype
        ):
            plain[name] = column.astype("float64")
    return plain


def model_signature(example: pd.DataFrame, output: pd.DataFrame) -> ModelSignature:
    """Input columns typed but optional, so the model itself names a missing column.

    MLflow's own check of a required column answers with the whole input and schema
    (thousands of characters); the model's check (``prepare_features``) is one line.
    Types of the columns present are still enforced by MLflow.
    """
    inferred = infer_signature(example, output)
    inputs = Schema([ColSpec(col.type, col.name, required=False) for col in inferred.inputs])
    return ModelSignature(inputs=inputs, outputs=inferred.outputs)


def example_rows(model, table: pd.DataFrame, n_rows: int = 5, pool: int = 2000) -> pd.DataFrame:
    """A few feature rows to show and sign with: the riskiest of the first ``pool`` rows
    first (they get reasons, so the output signature types the reason columns), then
    ordinary ones."""
    rows = table[model.feature_names].head(pool).reset_index(drop=True)
    order = np.argsort(-model.predict_proba(rows), kind="stable")
    riskiest = [int(row) for row in order[: max(n_rows // 2, 1)]]
    ordinary = [row for row in range(min(len(rows), 2 * n_rows)) if row not in riskiest]
    return rows.iloc[[*riskiest, *ordinary][:n_rows]].reset_index(drop=True)


def log_behavior_model(model, spec: Mapping[str, Any], example: pd.DataFrame) -> str:
    """Log the model with its spec as a pyfunc on the active run; return its model URI.

    Models from code (``pyfunc_code.py``), the fitted model and spec as artifacts,
    ``behaviorlab`` as code and exact pip requirements: the logged model installs and
    serves from its own folder anywhere.
    """
    plain_example = as_signature_frame(example_rows(model, example))
    output = score_for_serving(model, spec, plain_example)
    with tempfile.TemporaryDirectory() as folder:
        model_path = Path(folder) / MODEL_FILE
        spec_path = Path(folder) / SPEC_FILE
        model_path.write_bytes(pickle.dumps(model))
        spec_path.write_text(json.dumps(spec, indent=2, default=str))
        info = mlflow.pyfunc.log_model(
            name=MODEL_NAME_IN_RUN,
            python_model=str(CODE_FILE),
            artifacts={"model": str(model_path), "spec": str(spec_path)},
            code_paths=[str(Path(behaviorlab.__file__).parent)],
            signature=model_signature(plain_example, output),
            input_example=plain_example,
            pip_requirements=serving_requirements(),
        )
    return info.model_uri


@registry_call
def register_model(model_uri: str, name: str, tags: Mapping[str, Any]) -> str:
    """Register a new version under ``name``; return the version number."""
    version = mlflow.register_model(model_uri, name, tags={k: str(v) for k, v in tags.items()})
    return str(version.version)


def load_behavior_model(model_uri: str) -> tuple[Any, dict]:
    """The fitted model and spec behind a pyfunc, for in-process batch work.

    The model handles unseen category levels as its spec says, like the pyfunc.
    """
    python_model = mlflow.pyfunc.load_model(model_uri).unwrap_python_model()
    return python_model.model, python_model.spec


@registry_call
def version_for(name: str, wanted: str) -> str | None:
    """A version number, an alias or `latest` as a version number; None when there is none.

    Only a missing alias (or model) means "none": any other registry failure raises, so a
    transient error can never pass for "no champion yet".
    """
    if wanted.isdigit():
        return wanted
    client = MlflowClient()
    if wanted == "latest":
        versions = client.search_model_versions(f"name = '{name}'")
        return str(max(int(found.version) for found in versions)) if versions else None
    try:
        return str(client.get_model_version_by_alias(name, wanted).version)
    except MlflowException as error:
        if is_missing_alias(error):
            return None
        raise


@registry_call
def resolve_reference(name: str, wanted: str, key: str) -> str:
    """The version a reference names (a number, an alias or `latest`), checked to exist.

    Called before any data is read: a reference naming nothing is the user's error, a
    ConfigError naming the config ``key`` and listing the versions and aliases that exist.
    """
    client = MlflowClient()
    try:
        aliases = dict(client.get_registered_model(name).aliases)
    except MlflowException as error:
        if error.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        known = sorted(model.name for model in client.search_registered_models())
        raise ConfigError(
            f"{key}: no registered model named {name!r}; registered models: "
            f"{', '.join(known[:20]) or 'none'}"
        ) from None
    versions = sorted(
        int(found.version) for found in client.search_model_versions(f"name = '{name}'")
    )
    if wanted == "latest" and versions:
        return str(versions[-1])
    if wanted.isdigit() and int(wanted) in versions:
        return str(int(wanted))
    if wanted in aliases:
        return str(aliases[wanted])
    listed = ", ".join(f"{alias} -> v{version}" for alias, version in sorted(aliases.items()))
    raise ConfigError(
        f"{key}: {name} has no version or alias {wanted!r}; versions: "
        f"{', '.join(map(str, versions)) or 'none'}; aliases: {listed or 'none'}"
    )


@registry_call
def version_info(name: str, version: str) -> dict[str, Any]:
    """Tags and lineage of one version."""
    found = MlflowClient().get_model_version(name, version)
    return {"version": str(found.version), "run_id": found.run_id, "tags": dict(found.tags)}


@registry_call
def set_alias(name: str, alias: str, version: str) -> None:
    """Point an alias at a version (aliases replace the deprecated stages)."""
    MlflowClient().set_registered_model_alias(name, alias, version)


def auth_request(path: str, params: Mapping[str, str]) -> dict | None:
    """GET one of the basic-auth app's endpoints as the caller; None when the server has no
    auth app (a store without users lets everyone move aliases)."""
    uri = mlflow.get_registry_uri()
    response = http_request(get_default_host_creds(uri), path, "GET", params=dict(params))
    if response.status_code == 404:
        return None
    return verify_rest_response(response, path).json()


@registry_call
def champion_refusal(name: str) -> str | None:
    """Why the caller may not move ``champion`` of ``name``; None when it may.

    On a server with basic auth only MANAGE on the registered model (the deploy role) or an
    admin moves champion. MLflow itself lets EDIT set any alias, since registering a version
    takes the same EDIT, so the rule is checked here, before the alias moves.
    """
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    if not mlflow.get_registry_uri().startswith(("http://", "https://")) or not user:
        return None
    query = {"username": user, "resource_type": "registered_model", "resource_id": name}
    granted = auth_request("/api/3.0/mlflow/users/permissions/get", query)
    if granted is None or granted["permission"] == "MANAGE":
        return None
    if auth_request("/api/2.0/mlflow/users/current", {})["user"]["is_admin"]:
        return None
    return (
        f"{user} holds {granted['permission']} on {name}; moving champion takes MANAGE "
        "(the deploy role: behaviorlab-promote version=<this version>)"
    )


@registry_call
def tag_version(name: str, version: str, tags: Mapping[str, Any]) -> None:
    """Record decisions and figures on a version."""
    client = MlflowClient()
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, str(value))


def download_run_artifact(run_id: str, path: str, dst: str | Path) -> Path:
    """Fetch one artifact of a run (e.g. its holdout snapshots) to a local folder."""
    return Path(
        mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path, dst_path=str(dst))
    )


def gate_lock(name: str) -> contextlib.AbstractContextManager[None]:
    """Serialise promotion decisions on one registered name in a local SQLite registry."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    return sqlite_lock(mlflow.get_registry_uri(), f"gate-{safe}.lock")
