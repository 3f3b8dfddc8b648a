"""behaviorlab-users: create the team's users on the MLflow server and grant their role.

Roles are grants on the team's experiments and registered models, made by an admin
(``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD``) through MLflow's auth API:

- ``data-scientist``: EDIT on the experiments and registered models (runs, versions, tags);
- ``reviewer``: READ on them (what the server also gives anyone without a grant);
- ``deploy``: READ on the experiments, MANAGE on the registered models; the promotion gate
  moves ``champion`` only for a caller with MANAGE (or an admin).

The experiments and registered models are created by the admin if they do not exist yet:
MLflow gives whoever creates one MANAGE on it, so a data scientist who created the model
would hold the deploy role's right.
"""

import argparse
import contextlib
import getpass
import os
import secrets
import sys
import warnings
from collections.abc import Mapping

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

EXPERIMENT = "experiment"
REGISTERED_MODEL = "registered_model"
ROLES: Mapping[str, Mapping[str, str]] = {
    "data-scientist": {EXPERIMENT: "EDIT", REGISTERED_MODEL: "EDIT"},
    "reviewer": {EXPERIMENT: "READ", REGISTERED_MODEL: "READ"},
    "deploy": {EXPERIMENT: "READ", REGISTERED_MODEL: "MANAGE"},
}
PASSWORD_ENV = "BEHAVIORLAB_USER_PASSWORD"


def ensure_experiment(client: MlflowClient, name: str) -> str:
    """The id of the experiment ``name``, created (by the caller, an admin) if absent."""
    found = client.get_experiment_by_name(name)
    if found:
        return found.experiment_id
    try:
        return client.create_experiment(name)
    except MlflowException as error:  # created meanwhile by another admin call
        if error.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        return client.get_experiment_by_name(name).experiment_id


def ensure_registered_model(client: MlflowClient, name: str) -> str:
    """The registered model ``name``, created (by the caller, an admin) if absent."""
    try:
        client.get_registered_model(name)
    except MlflowException as error:
        if error.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        with contextlib.suppress(MlflowException):  # created meanwhile by another admin call
            client.create_registered_model(name)
        client.get_registered_model(name)
    return name


def ensure_user(auth, username: str, password: str | None) -> str | None:
    """Create the user; return the password it was given, None when it already existed."""
    try:
        auth.get_user(username)
        return None
    except MlflowException as error:
        if error.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
    password = password or secrets.token_urlsafe(18)
    auth.create_user(username, password)
    return password


def auth_client(tracking_uri: str):
    """MLflow's basic-auth client for the server. Making it loads MLflow's server app,
    whose own Starlette deprecation warning is nothing a user of this command can act on."""
    from mlflow.server import get_app_client

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="starlette.middleware.wsgi is deprecated")
        return get_app_client("basic-auth", tracking_uri=tracking_uri)


def grant_role(
    tracking_uri: str,
    username: str,
    role: str,
    experiments: list[str],
    models: list[str],
    password: str | None = None,
) -> dict[str, object]:
    """Create ``username`` (if new) and grant ``role`` on the experiments and models.

    Returns the grants made, and the password when the user was created with a generated one.
    """
    auth = auth_client(tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    created = ensure_user(auth, username, password)
    grants = {}
    for name in experiments:
        experiment_id = ensure_experiment(client, name)
        auth.grant_user_permission(username, EXPERIMENT, experiment_id, ROLES[role][EXPERIMENT])
        grants[f"experiment {name}"] = ROLES[role][EXPERIMENT]
    for name in models:
        ensure_registered_model(client, name)
        permission = ROLES[role][REGISTERED_MODEL]
        auth.grant_user_permission(username, REGISTERED_MODEL, name, permission)
        grants[f"registered model {name}"] = permission
    generated = created if created and not password else None
    return {"created": created is not None, "password": generated, "grants": grants}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="behaviorlab-users",
        description="Create a user on the team's MLflow server and grant a role "
        "(run as an admin: MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD).",
    )
    parser.add_argument("username")
    parser.add_argument("--role", required=True, choices=sorted(ROLES))
    parser.add_argument("--experiment", action="append", default=[], dest="experiments")
    parser.add_argument("--model", action="append", default=[], dest="models")
    parser.add_argument("--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI"))
    parser.add_argument(
        "--ask-password",
        action="store_true",
        help=f"prompt for the new user's password (else ${PASSWORD_ENV}, else a generated one)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Console entry point; exit 1 with one line when the server refuses or cannot be read."""
    args = parse_args(argv)
    if not args.tracking_uri or not args.tracking_uri.startswith(("http://", "https://")):
        print(
            "error: --tracking-uri (or MLFLOW_TRACKING_URI) must be the server's http(s) URL",
            file=sys.stderr,
        )
        sys.exit(2)
    password = getpass.getpass("password: ") if args.ask_password else os.environ.get(PASSWORD_ENV)
    try:
        outcome = grant_role(
            args.tracking_uri, args.username, args.role, args.experiments, args.models, password
        )
    except MlflowException as error:
        print(
            f"error: {args.tracking_uri} refused: {error.error_code}: {error.message}",
            file=sys.stderr,
        )
        sys.exit(1)
    state = "created" if outcome["created"] else "exists"
    print(f"{args.username} ({state}) is {args.role}")
    for resource, permission in outcome["grants"].items():
        print(f"  {permission:6s} on {resource}")
    if outcome["password"]:
        print(f"  password: {outcome['password']} (shown once; hand it over privately)")


if __name__ == "__main__":
    main()
