"""Engines as configuration: the Ibis backend that features and labels run on.

``connect_engine`` turns an ``engine`` config block into a backend: DuckDB in process (the
default; nothing to start) or Spark (a local session in tests, a cluster's active session
in production). The same feature definitions run on either. Spark is an optional extra
(``pip install -e '.[spark]'``) and needs Java; it is imported only when asked for.
"""

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ibis

from behaviorlab.data.contract import (
    AMOUNT,
    CUSTOMER_ID,
    EVENT,
    EVENT_REQUIRED,
    SESSION_ID,
    TIMESTAMP,
)
from behaviorlab.errors import ConfigError, DataValidationError

KINDS = ("duckdb", "spark")
DUCKDB_SETTINGS = ("threads", "memory_limit", "temp_directory")
SPARK_APP_NAME = "behaviorlab"
# Always, whatever the config says: the event log's timestamps are naive UTC, and Spark
# reads and shows timestamps in its session time zone. Pandas frames cross through Arrow,
# which honours that zone (the row-by-row path would read naive times as the host's).
SPARK_ALWAYS = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}
# Sensible for a local session on a few cores (`master: local[...]`); a config's `conf`
# overrides any of them. A cluster's session keeps its own.
SPARK_LOCAL_DEFAULTS = {
    "spark.sql.shuffle.partitions": "8",
    "spark.default.parallelism": "8",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
}
CANONICAL_TYPES = {
    CUSTOMER_ID: "string",
    EVENT: "string",
    AMOUNT: "float64",
    SESSION_ID: "string",
}


def connect_engine(cfg: Mapping[str, Any]) -> ibis.BaseBackend:
    """The backend an ``engine`` config block names (``kind: duckdb`` or ``kind: spark``)."""
    kind = cfg.get("kind")
    if kind == "duckdb":
        return connect_duckdb(cfg)
    if kind == "spark":
        return connect_spark(cfg)
    raise ConfigError(f"engine.kind must be one of {KINDS}, got {kind!r}")


def connect_duckdb(cfg: Mapping[str, Any]) -> ibis.BaseBackend:
    """An in-memory DuckDB connection with the optional threads, memory limit and spill
    folder (created when missing)."""
    settings = {name: cfg[name] for name in DUCKDB_SETTINGS if cfg.get(name) is not None}
    if "temp_directory" in settings:
        Path(settings["temp_directory"]).mkdir(parents=True, exist_ok=True)
        settings["temp_directory"] = str(settings["temp_directory"])
    return ibis.duckdb.connect(**settings)


def spark_settings(cfg: Mapping[str, Any]) -> dict[str, str]:
    """The local-mode defaults (local masters only), then the config's ``conf``, then the
    settings every session gets."""
    local = str(cfg.get("master") or "").startswith("local")
    conf = {key: str(value) for key, value in (cfg.get("conf") or {}).items()}
    return {**(SPARK_LOCAL_DEFAULTS if local else {}), **conf, **SPARK_ALWAYS}


def connect_spark(cfg: Mapping[str, Any]) -> ibis.BaseBackend:
    """A Spark session as an Ibis backend.

    With ``master`` (e.g. ``local[2]``) a session is started (or the running one reused)
    with every setting; with ``master: null`` the active session is used (a cluster's, or
    a notebook's) and the config's settings a running session accepts are applied.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ConfigError(
            "engine.kind is spark but PySpark is not installed: pip install -e '.[spark]'"
        ) from None
    settings = spark_settings(cfg)
    master = cfg.get("master")
    if master is None:
        session = SparkSession.getActiveSession()
        if session is None:
            raise ConfigError(
                "engine.master is null, which uses the active Spark session, but none is "
                "running: set engine.master (e.g. local[2]) to start one"
            )
    else:
        builder = SparkSession.builder.master(str(master))
        builder = builder.appName(cfg.get("app_name") or SPARK_APP_NAME)
        for key, value in settings.items():
            builder = builder.config(key, value)
        session = builder.getOrCreate()
    apply_runtime_settings(session, settings, explicit=cfg.get("conf") or {})
    logging.getLogger("py4j").setLevel(logging.WARNING)
    return ibis.pyspark.connect(session)


def apply_runtime_settings(session, settings: dict[str, str], explicit: Mapping) -> None:
    """Set what a running session can change (``getOrCreate`` may return a session that
    was already running); a setting the config asked for that only a new session takes is
    an error rather than silently ignored."""
    for key, value in settings.items():
        if session.conf.isModifiable(key):
            session.conf.set(key, value)
        elif key in explicit and session.conf.get(key, None) != value:
            raise ConfigError(
                f"engine.conf {key}={value} can only be set when the Spark session starts, "
                "and the active session has another value; set it where the session is made"
            )


def events_from_parquet(con: ibis.BaseBackend, path: str | Path) -> ibis.Table:
    """A canonical event log in Parquet as a lazy table of ``con``; nothing is read yet.

    The canonical columns get the canonical types (text ids and names, float amounts;
    a no-op for a staged file), property columns stay as they are. The timestamp must be
    a naive timestamp (UTC by the contract): a zoned one would be shifted by whatever
    time zone the engine's session has.
    """
    table = con.read_parquet(str(path))
    missing = [c for c in EVENT_REQUIRED if c not in table.columns]
    if missing:
        raise DataValidationError(f"events: {path} has no column(s) {missing}")
    stamp = table.schema()[TIMESTAMP]
    if not stamp.is_timestamp() or stamp.timezone is not None:
        raise DataValidationError(
            f"events: {path} column '{TIMESTAMP}' is {stamp}, not a naive UTC timestamp"
        )
    casts = {
        name: table[name].cast(dtype)
        for name, dtype in CANONICAL_TYPES.items()
        if name in table.columns and table.schema()[name] != ibis.dtype(dtype)
    }
    return table.mutate(**casts) if casts else table
