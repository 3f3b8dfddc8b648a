"""CDNOW at cutoff 1997-10-01: the RFM family's BG/NBD inputs equal lifetimes' own.

lifetimes' ``calibration_and_holdout_data`` (freq='D', calibration ending 1997-09-30, the
day before the cutoff) is the reference: its ``T_cal`` is ``bgnbd_t_days`` and its
``monetary_value_cal`` (the mean of the repeat purchase days' summed amounts) is
``monetary_repeat_mean``, for every customer.
"""

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

from behaviorlab.features.builder import build_features
from behaviorlab.features.snapshots import make_calendar_snapshots
from behaviorlab.features.spec import resolve_feature_spec
from tests.integration.test_cdnow_rfm import CUTOFF, off, read_cdnow

pytestmark = pytest.mark.shared_data


def lifetimes_summary(events: pd.DataFrame) -> pd.DataFrame:
    """lifetimes' calibration summary with the calibration period ending before the cutoff."""
    utils = pytest.importorskip("lifetimes.utils")
    summary = utils.calibration_and_holdout_data(
        events,
        "customer_id",
        "timestamp",
        calibration_period_end=CUTOFF - pd.Timedelta(days=1),
        observation_period_end=events["timestamp"].max(),
        freq="D",
        monetary_value_col="amount",
    )
    return summary.reset_index().astype({"customer_id": "str"})


def test_cdnow_bgnbd_inputs_equal_lifetimes(shared_data):
    events = read_cdnow(shared_data / "cdnow" / "CDNOW_master.txt")
    want = lifetimes_summary(events).sort_values("customer_id", ignore_index=True)
    snapshots = make_calendar_snapshots(events, cutoffs=[str(CUTOFF.date())])
    spec = {"rfm": {"bgnbd": True}, "attributes": False, **off()}
    got = build_features(events, None, snapshots, resolve_feature_spec(spec, events, None))
    got = got.sort_values("customer_id", ignore_index=True)
    assert len(got) == len(want) == 23_570
    pdt.assert_series_equal(got["customer_id"], want["customer_id"])
    assert (want["monetary_value_cal"] > 0).sum() > 5_000  # repeat buyers are exercised
    np.testing.assert_array_equal(got["bgnbd_t_days"], want["T_cal"])
    np.testing.assert_array_equal(got["frequency"], want["frequency_cal"])
    np.testing.assert_array_equal(got["bgnbd_recency_days"], want["recency_cal"])
    np.testing.assert_allclose(got["monetary_repeat_mean"], want["monetary_value_cal"], rtol=1e-9)
