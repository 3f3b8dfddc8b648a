"""Fingerprints and the Parquet cache of training tables.

The key covers the input data fingerprint and the resolved task and feature specs, so a
changed event, option or data-dependent choice (e.g. the top event types) misses the cache.
"""

import hashlib
import json
import os
from pathlib import Path

import pandas as pd

CACHE_FORMAT = 1


def fingerprint_frame(frame: pd.DataFrame | None) -> str:
    """Content hash of a frame (values, column names and dtypes; not the index)."""
    if frame is None:
        return "none"
    digest = hashlib.sha256(repr([(c, str(t)) for c, t in frame.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def cache_key(parts: dict) -> str:
    """A short stable hash of JSON-serialisable parts."""
    text = json.dumps({"format": CACHE_FORMAT, **parts}, sort_keys=True, default=str)
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
