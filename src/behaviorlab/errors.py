"""Errors a user can act on. Apps turn them into one message and exit status 2."""


class BehaviorlabError(Exception):
    """Base class for problems with the user's data or configuration."""


class DataValidationError(BehaviorlabError):
    """Input data breaks the contract (missing column, bad type, null id, ...)."""


class ConfigError(BehaviorlabError):
    """A configuration value is missing, unknown or inconsistent."""


class RegistryError(BehaviorlabError):
    """The model registry failed (not the user's input): the job stops, promoting nothing."""

    exit_status = 1


class TrackingServerLost(BehaviorlabError):
    """The MLflow tracking server stopped answering mid-job (not the user's input).

    The job stops with one line and exit status 1. What it could not end on the server (its
    run) stays RUNNING until the next job that opens a run in the experiment ends it.
    """

    exit_status = 1


class TrackingServerUnreachable(BehaviorlabError):
    """The configured MLflow tracking server does not answer when a job starts: one line
    and exit status 1, before anything is computed or logged."""

    exit_status = 1
