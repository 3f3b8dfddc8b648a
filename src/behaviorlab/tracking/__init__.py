"""The only room that talks to MLflow: runs, artifacts, registry and aliases."""
