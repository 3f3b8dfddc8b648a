"""Fingerprints and the Parquet cache of training tables.

The key covers the input data fingerprint, the resolved task and feature specs, the package
version and the source of the feature code, so a changed event, option, data-dependent
choice (e.g. the top event types) or feature definition misses the cache.
"""

import functools
import hashlib
import json
import os
from pathlib import Path

import ibis
import pandas as pd

from behaviorlab import __version__
from behaviorlab.errors import ConfigError

FEATURES_DIR = Path(__file__).resolve().parent


def fingerprint_frame(frame: pd.DataFrame | None) -> str:
    """Content hash of a frame (values, column names and dtypes; not the index).

    An engine table is not hashed here (that would read all of it again): its loader
    hashes the data as it stages it, and the caller passes that fingerprint.
    """
    if frame is None:
        return "none"
    if isinstance(frame, ibis.Table):
        raise ConfigError(
            "a cached training table built from an engine table needs the data's fingerprint "
            "(the staged events' content hash): pass fingerprint="
        )
    digest = hashlib.sha256(repr([(c, str(t)) for c, t in frame.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


@functools.cache
def source_hash(folder: Path = FEATURES_DIR) -> str:
    """Hash of every ``.py`` file under ``folder`` (path and content), once per process."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.py"), key=lambda p: p.relative_to(folder).as_posix()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def cache_key(parts: dict, features_dir: Path | None = None) -> str:
    """A short stable hash of JSON-serialisable parts and of the code that builds the table."""
    code = {"version": __version__, "features_source": source_hash(features_dir or FEATURES_DIR)}
    text = json.dumps({"code": code, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def cache_path(cache_dir, key: str) -> Path:
    """Where the training table for ``key`` lives."""
    return Path(cache_dir) / f"training_{key}.parquet"


def read_cached(path: Path, dtypes: dict) -> pd.DataFrame:
    """Read a cached table and restore the exact feature dtypes (category levels included)."""
    frame = pd.read_parquet(path)
    return frame.astype(dtypes)


def write_cached(frame: pd.DataFrame, path: Path) -> None:
    """Write via a temporary file and rename, so a crash never leaves half a table."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.partial")
    frame.to_parquet(partial, index=False)
    partial.replace(path)
