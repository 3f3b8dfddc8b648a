"""Composing app configs as the command line would, and talking to local servers."""

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig

from behaviorlab.apps.common import compose_app


def small_sim_overrides(data_dir) -> list[str]:
    """Overrides that point the built-in data at the session's small simulation."""
    from tests.conftest import SMALL_SIM

    return [
        f"paths.data_dir={data_dir}",
        f"data.simulate.n_customers={SMALL_SIM['n_customers']}",
        f"data.simulate.seed={SMALL_SIM['seed']}",
    ]


def train_small_version(data_dir, *extra: str) -> dict:
    """A quick training job (two smoke trials) on the small simulation that registers; the
    training tables are cached once per test session (the cache key covers data and config)."""
    from behaviorlab.apps import train

    overrides = [*small_sim_overrides(data_dir), "tuning=smoke", "tuning.n_trials=2"]
    overrides += ["explain.max_rows=100", "explain.n_dependence=1", "registry.gate.n_boot=200"]
    overrides += [f"paths.cache_dir={Path(data_dir).parent / 'cache'}", *extra]
    return train.run(compose_config("train", overrides))


def compose_config(config_name: str, overrides: list[str]) -> DictConfig:
    """Compose ``conf/<config_name>.yaml`` with command-line style overrides."""
    return compose_app(config_name, overrides)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, timeout: float = 120.0) -> None:
    """Poll a local server until it answers; fail with its stderr if it dies first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited: {process.stderr.read().decode()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"server at {url} not up after {timeout} s")


def post_json(url: str, body: str) -> tuple[int, str]:
    """POST a JSON text; the status and the answer's text, error answers included."""
    request = urllib.request.Request(
        url, data=body.encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def strict_json(text: str):
    """Decode as a strict JSON parser does: NaN and Infinity are not JSON."""

    def refuse(constant: str):
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def snapshots_at(events: pd.DataFrame, *cutoffs: str) -> pd.DataFrame:
    """Every customer of ``events`` at each cutoff, in the snapshot table's dtypes."""
    ids = sorted(events["customer_id"].unique())
    stamps = pd.to_datetime(list(cutoffs), format="ISO8601")
    return pd.DataFrame(
        {
            "customer_id": pd.array([c for c in ids for _ in stamps], dtype="str"),
            "cutoff": pd.Series(list(stamps) * len(ids), dtype="datetime64[us]"),
        }
    )


def read_cdnow_purchases(shared_data: Path) -> pd.DataFrame:
    """CDNOW's master file as purchases: customer_id (as written, zero-padded), timestamp,
    amount; read with pandas alone, apart from the product's loaders."""
    raw = pd.read_csv(
        shared_data / "cdnow" / "CDNOW_master.txt",
        sep=r"\s+",
        dtype={"customer_id": "str", "date": "str"},
    )
    return pd.DataFrame(
        {
            "customer_id": raw["customer_id"].astype("str"),
            "timestamp": pd.to_datetime(raw["date"], format="%Y%m%d").astype("datetime64[us]"),
            "amount": raw["dollar_value"].astype("float64"),
        }
    )
