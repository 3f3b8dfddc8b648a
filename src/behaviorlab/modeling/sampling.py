"""The training sample: bound what reaches the model by keeping a share of whole customers.

``training.sample`` names a ``fraction`` of the customers or a ``max_rows`` bound (null for
both: every row). Customers are kept or dropped with all their snapshots, so the customer
grouping of the splits still holds. Customers are stratified on whether they have any
positive snapshot; within each stratum they are ranked by a salted hash of their id and the
same share of each stratum is kept (to one customer), so the share of customers with a
positive is kept exactly and the row-level label share moves only by the sampling noise of
whole customers. The hash keeps the choice identical across runs for a salt, and
independent of the gate holdout and split hashes (other salts, and a key of its own).

The gate holdout is never sampled: the train app carves it from the table first, so the
frame given here holds no gate customer, and the gate rows go on untouched.
"""

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from behaviorlab.data.contract import CUSTOMER_ID, LABEL
from behaviorlab.errors import ConfigError

HASH_KEY = "training-sample"


@dataclass(frozen=True)
class SampleRecord:
    """What the sample did, for the run: sizes and positive share before and after, and the
    share of customers kept."""

    applied: bool
    rows_before: int
    rows_after: int
    customers_before: int
    customers_after: int
    positive_share_before: float
    positive_share_after: float
    fraction: float

    def params(self) -> dict[str, Any]:
        """The record as ``training.sample.*`` run params (rounded shares)."""
        return {
            f"training.sample.{key}": round(value, 6) if isinstance(value, float) else value
            for key, value in asdict(self).items()
        }


def check_sample_config(fraction, max_rows) -> None:
    """One bound at most, each in range."""
    if fraction is not None and max_rows is not None:
        raise ConfigError("training.sample takes fraction or max_rows, not both")
    if fraction is not None and not 0 < float(fraction) <= 1:
        raise ConfigError(f"training.sample.fraction must be in (0, 1], got {fraction}")
    if max_rows is not None and int(max_rows) < 1:
        raise ConfigError(f"training.sample.max_rows must be a positive integer, got {max_rows}")


def customer_hash(customer_ids: pd.Series, salt: str) -> np.ndarray:
    """A stable 64-bit hash per id for this salt, keyed apart from the split and gate hashes."""
    keyed = customer_ids.astype("str") + f"|{salt}|{HASH_KEY}"
    return pd.util.hash_pandas_object(keyed, index=False).to_numpy()


def rank_customers(frame: pd.DataFrame, salt: str) -> pd.DataFrame:
    """One row per customer: its rows and its position ``u`` in (0, 1) within its stratum
    (any positive or none), in salted-hash order; sorted by ``u``.

    Keeping ``u < f`` keeps ``round(f * n)`` customers of each stratum of ``n``; any prefix
    by ``u`` holds the same share of each stratum, to one customer.
    """
    customers = frame.groupby(CUSTOMER_ID, observed=True, sort=False).agg(
        rows=(LABEL, "size"), positive=(LABEL, "max")
    )
    customers["hash"] = customer_hash(customers.index.to_series(), salt)
    customers = customers.sort_values(["positive", "hash"], kind="stable")
    rank = customers.groupby("positive").cumcount()
    size = customers.groupby("positive")["rows"].transform("size")
    customers["u"] = (rank + 0.5) / size
    return customers.sort_values(["u", "hash"], kind="stable")


def kept_customers(ranked: pd.DataFrame, fraction, max_rows) -> pd.Index:
    """The customers a fraction keeps, or the longest prefix within ``max_rows`` rows."""
    if fraction is not None:
        return ranked.index[ranked["u"].to_numpy() < float(fraction)]
    within = ranked["rows"].cumsum().to_numpy() <= int(max_rows)
    return ranked.index[: int(within.sum())]


def sample_customers(
    frame: pd.DataFrame, fraction=None, max_rows=None, salt: str = "sample"
) -> tuple[pd.DataFrame, SampleRecord]:
    """Whole customers, stratified by whether they have any positive (see module notes);
    the frame unchanged when neither bound is given."""
    check_sample_config(fraction, max_rows)
    kept = frame
    if fraction is not None or max_rows is not None:
        ids = kept_customers(rank_customers(frame, str(salt)), fraction, max_rows)
        kept = frame[frame[CUSTOMER_ID].isin(ids)].reset_index(drop=True)
        check_both_classes(frame, kept)
    before, after = frame[CUSTOMER_ID].nunique(), kept[CUSTOMER_ID].nunique()
    record = SampleRecord(
        applied=kept is not frame,
        rows_before=len(frame),
        rows_after=len(kept),
        customers_before=int(before),
        customers_after=int(after),
        positive_share_before=float(frame[LABEL].mean()),
        positive_share_after=float(kept[LABEL].mean()),
        fraction=after / before if before else 1.0,
    )
    return kept, record


def check_both_classes(frame: pd.DataFrame, kept: pd.DataFrame) -> None:
    """A sample too small to keep both labels cannot train: say which setting to raise."""
    if kept[LABEL].nunique() < frame[LABEL].nunique():
        raise ConfigError(
            f"training.sample keeps {kept[CUSTOMER_ID].nunique()} customers and "
            f"{len(kept)} rows, not both labels: raise training.sample.fraction or max_rows"
        )


def apply_training_sample(
    frame: pd.DataFrame, cfg: Mapping[str, Any] | None
) -> tuple[pd.DataFrame, SampleRecord]:
    """``training.sample`` (a plain mapping, or None) applied to the training rows.

    Call it on the table the gate holdout was already carved from.
    """
    cfg = cfg or {}
    return sample_customers(
        frame, cfg.get("fraction"), cfg.get("max_rows"), cfg.get("salt") or "sample"
    )
