"""CDNOW at cutoff 1997-10-01: the RFM family equals the BG/NBD summary computed here.

frequency = repeat purchase days, recency = days from the first to the last purchase day,
T = days from the first purchase to the cutoff (the definitions of Fader, Hardie & Lee).
"""

import pandas as pd
import pandas.testing as pdt
import pytest

from behaviorlab.features.builder import build_features
from behaviorlab.features.snapshots import make_calendar_snapshots
from behaviorlab.features.spec import resolve_feature_spec

pytestmark = pytest.mark.shared_data
CUTOFF = pd.Timestamp("1997-10-01")


def read_cdnow(path) -> pd.DataFrame:
    """The shipped file: a header line, whitespace-separated, zero-padded ids, YYYYMMDD."""
    raw = pd.read_csv(path, sep=r"\s+", dtype={"customer_id": "str", "date": "str"})
    return pd.DataFrame(
        {
            "customer_id": raw["customer_id"].astype("str"),
            "timestamp": pd.to_datetime(raw["date"], format="%Y%m%d").astype("datetime64[us]"),
            "event": pd.array(["purchase"] * len(raw), dtype="str"),
            "amount": raw["dollar_value"].astype("float64"),
        }
    )


def bgnbd_summary(events: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """Per customer: distinct purchase days before the cutoff, then frequency, recency, T."""
    days = events.loc[events["timestamp"] < cutoff, ["customer_id", "timestamp"]]
    per = days.groupby("customer_id")["timestamp"].agg(["min", "max", "nunique"])
    return pd.DataFrame(
        {
            "frequency": (per["nunique"] - 1).astype("float64"),
            "bgnbd_recency_days": (per["max"] - per["min"]).dt.days.astype("float64"),
            "t_days": (cutoff - per["min"]).dt.days.astype("float64"),
        }
    ).reset_index()


def test_cdnow_frequency_recency_and_t_match_bgnbd(shared_data):
    events = read_cdnow(shared_data / "cdnow" / "CDNOW_master.txt")
    snapshots = make_calendar_snapshots(events, cutoffs=[str(CUTOFF.date())])
    assert len(snapshots) == 23_570  # every customer's first purchase is in early 1997
    spec = resolve_feature_spec({"rfm": True, "attributes": False, **off()}, events, None)
    got = build_features(events, None, snapshots, spec)
    want = bgnbd_summary(events, CUTOFF).sort_values("customer_id", ignore_index=True)
    columns = ["customer_id", "frequency", "bgnbd_recency_days", "t_days"]
    pdt.assert_frame_equal(got[columns].sort_values("customer_id", ignore_index=True), want)
    since_last = got["t_days"] - got["bgnbd_recency_days"]
    pdt.assert_series_equal(got["recency_days"], since_last, check_names=False)


def off() -> dict:
    return dict.fromkeys(("activity", "trends", "timing", "sessions", "diversity", "funnel"), False)
