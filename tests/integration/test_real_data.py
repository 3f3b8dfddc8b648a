"""The real data sets load through their shipped configs with the documented sizes."""

from pathlib import Path

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from behaviorlab.apps.schemas import register_schemas
from behaviorlab.data.sources import load_dataset
from behaviorlab.data.validation import DataQualityWarning

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"

pytestmark = pytest.mark.shared_data


def compose_data(name: str, shared_data: Path, extra: tuple[str, ...] = ()) -> dict:
    """The ``data`` group as an app sees it, with the real data folder filled in."""
    overrides = ["+paths=default", f"+data={name}", f"paths.shared_data={shared_data}", *extra]
    register_schemas()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(overrides=overrides)
    return OmegaConf.to_container(cfg.data, resolve=True)


def test_cdnow_loads_every_purchase(shared_data):
    with pytest.warns(DataQualityWarning, match="255 of 69,659 rows duplicate .* kept"):
        dataset = load_dataset(compose_data("cdnow", shared_data))
    events = dataset.events.to_pyarrow().to_pandas()
    assert dataset.event_rows == len(events) == 69_659
    assert events["customer_id"].nunique() == 23_570
    assert events["customer_id"].iloc[0] == "00001"
    assert set(events["event"]) == {"purchase"}
    assert events["amount"].dtype == "float64"
    assert events["amount"].notna().all()
    assert (events["amount"] == 0).sum() == 80
    assert dataset.data_start == pd.Timestamp("1997-01-01")
    assert dataset.data_end == pd.Timestamp("1998-06-30")
    assert dataset.customers is None


def test_ecom_loads_sessions_and_derives_customers(shared_data):
    with pytest.warns(DataQualityWarning, match="duplicate .* kept"):
        dataset = load_dataset(compose_data("ecom", shared_data))
    events = dataset.events.to_pyarrow().to_pandas()
    assert dataset.event_rows == len(events) == 31_106
    assert events["customer_id"].nunique() == 600
    assert events["session_id"].nunique() == 3_605
    assert {"product_view", "add_to_cart", "purchase"} <= set(events["event"])
    assert events["timestamp"].dtype == "datetime64[us]"
    customers = dataset.customers
    assert customers.columns.tolist() == ["customer_id", "platform", "acquisition_channel"]
    assert len(customers) == 600
    assert isinstance(customers["platform"].dtype, pd.CategoricalDtype)
    assert customers[["platform", "acquisition_channel"]].notna().all().all()


def test_data_path_override_reaches_the_reader(shared_data, tmp_path):
    copy = tmp_path / "cdnow.txt"
    lines = (shared_data / "cdnow" / "CDNOW_master.txt").read_text().splitlines()[:11]
    copy.write_text("\n".join(lines) + "\n")
    dataset = load_dataset(compose_data("cdnow", shared_data, (f"data.path={copy}",)))
    assert dataset.event_rows == dataset.events.count().execute() == 10
