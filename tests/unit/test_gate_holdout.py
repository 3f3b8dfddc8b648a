"""The gate holdout: stable, whole customers, and never in the table training receives."""

import numpy as np
import pandas as pd
import pytest

from behaviorlab.errors import ConfigError
from behaviorlab.modeling.gate_holdout import carve_gate_holdout, rows_in_test_period


def panel(n_customers: int = 2000, n_cutoffs: int = 3) -> pd.DataFrame:
    cutoffs = pd.date_range("2025-01-01", periods=n_cutoffs, freq="30D")
    ids = [f"c{i:05d}" for i in range(n_customers)]
    return pd.DataFrame(
        {
            "customer_id": np.repeat(ids, n_cutoffs),
            "cutoff": np.tile(cutoffs, n_customers),
            "label": np.tile([0, 1, 0], n_customers)[: n_customers * n_cutoffs],
        }
    )


def test_carving_is_customer_level_stable_and_near_the_fraction():
    table = panel()
    train, gate = carve_gate_holdout(table, 0.15, "gate")
    assert len(train) + len(gate) == len(table)
    assert not set(train["customer_id"]) & set(gate["customer_id"])
    assert gate.groupby("customer_id").size().eq(3).all()
    assert 0.12 < gate["customer_id"].nunique() / 2000 < 0.18
    shuffled = table.sample(frac=1.0, random_state=3)
    _, again = carve_gate_holdout(shuffled, 0.15, "gate")
    assert set(again["customer_id"]) == set(gate["customer_id"])


def test_a_customer_stays_in_the_gate_whatever_else_the_table_holds():
    table = panel()
    _, gate = carve_gate_holdout(table, 0.15, "gate")
    subset = table[table["customer_id"].isin(table["customer_id"].unique()[:500])]
    _, gate_of_subset = carve_gate_holdout(subset, 0.15, "gate")
    assert set(gate_of_subset["customer_id"]) == set(gate["customer_id"]) & set(
        subset["customer_id"]
    )


def test_another_salt_picks_other_customers():
    table = panel()
    _, gate = carve_gate_holdout(table, 0.15, "gate")
    _, other = carve_gate_holdout(table, 0.15, "other")
    overlap = set(gate["customer_id"]) & set(other["customer_id"])
    assert len(overlap) < 0.4 * gate["customer_id"].nunique()


@pytest.mark.parametrize("fraction", [0.0, 1.0, 1.5])
def test_fraction_outside_zero_one_is_refused(fraction):
    with pytest.raises(ConfigError, match="holdout_fraction"):
        carve_gate_holdout(panel(10), fraction, "gate")


def test_rows_in_test_period_keeps_rows_from_the_test_start_or_all():
    table = panel(50)
    latest = rows_in_test_period(table, table["cutoff"].max())
    assert set(latest["cutoff"]) == {table["cutoff"].max()}
    assert len(rows_in_test_period(table, table["cutoff"].min())) == len(table)
    single = table.assign(cutoff=pd.NaT)
    assert len(rows_in_test_period(single, None)) == len(single)
