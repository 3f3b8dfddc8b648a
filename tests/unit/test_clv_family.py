"""The clv feature family: each cutoff's models fitted on that cutoff's history only.

The values are checked against lifetimes' fitters on lifetimes' own summary of the same
log (an independent implementation of the summary, the fits and the predictions), and
against the pandas reference at several cutoffs (midnight and within a day).
"""

import warnings

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

from behaviorlab.data.validation import DataQualityWarning
from behaviorlab.errors import ConfigError
from behaviorlab.features.builder import (
    build_features,
    build_training_table,
    fit_clv_models,
    lazy_features,
)
from behaviorlab.features.spec import FAMILIES, feature_columns, resolve_feature_spec
from tests.helpers import snapshots_at
from tests.reference_features import reference_features

CUTOFF = pd.Timestamp("2024-10-01")
KEYS = ["customer_id", "cutoff"]
ONLY_CLV = {**dict.fromkeys(FAMILIES, False), "clv": True}


def heterogeneous_log(n_customers: int, seed: int, days: int = 365) -> pd.DataFrame:
    """Purchases of Poisson buyers (rate ~ Gamma) with exponential lifetimes (rate ~ Gamma)
    and their own mean spend (Gamma-Gamma): the heterogeneity the models describe."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(0.8, 1 / 15, n_customers)
    life = rng.exponential(1 / rng.gamma(0.6, 1 / 60, n_customers))
    first = rng.uniform(0, days * 0.6, n_customers)
    mean_spend = rng.gamma(3.0, 1 / rng.gamma(6.0, 1 / 150.0, n_customers))
    span = np.minimum(life, days - first)
    owner = np.repeat(np.arange(n_customers), rng.poisson(rate * span) + 1)
    is_first = np.r_[True, owner[1:] != owner[:-1]]
    offset = np.where(is_first, 0.0, rng.uniform(0, 1, len(owner)) * span[owner])
    seconds = np.round((first[owner] + offset) * 86_400).astype("int64")
    return pd.DataFrame(
        {
            "customer_id": pd.array([f"c{i:04d}" for i in owner], dtype="str"),
            "timestamp": np.datetime64("2024-01-01", "us") + seconds.astype("timedelta64[s]"),
            "event": pd.array(["purchase"] * len(owner), dtype="str"),
            "amount": np.round(rng.gamma(4.0, mean_spend[owner] / 4.0), 2),
        }
    )


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    return heterogeneous_log(500, seed=3)


def build(events: pd.DataFrame, snapshots: pd.DataFrame, clv=True, **kwargs) -> pd.DataFrame:
    resolved = resolve_feature_spec({**ONLY_CLV, "clv": clv}, events, None)
    return build_features(events, None, snapshots, resolved, **kwargs)


def lifetimes_predictions(events: pd.DataFrame, model: str) -> pd.DataFrame:
    """lifetimes' fits and predictions at CUTOFF (calibration ending the day before).

    lifetimes gets purchase dates: it compares raw timestamps with the calibration end
    (midnight), so it would leave out the purchases made during that last day."""
    lifetimes = pytest.importorskip("lifetimes")
    from lifetimes.utils import calibration_and_holdout_data

    summary = calibration_and_holdout_data(
        events.assign(timestamp=events["timestamp"].dt.floor("D")),
        "customer_id",
        "timestamp",
        calibration_period_end=CUTOFF - pd.Timedelta(days=1),
        observation_period_end=events["timestamp"].max(),
        freq="D",
        monetary_value_col="amount",
    )
    x, t_x, age, m = (summary[f"{c}_cal"] for c in ("frequency", "recency", "T", "monetary_value"))
    fitter = {"bg_nbd": lifetimes.BetaGeoFitter, "pareto_nbd": lifetimes.ParetoNBDFitter}[model]
    purchases = fitter().fit(x, t_x, age)
    repeat = (x > 0) & (m > 0)
    spend = lifetimes.GammaGammaFitter().fit(x[repeat], m[repeat])
    value = spend.customer_lifetime_value(
        purchases, x, t_x, age, m, time=12, discount_rate=0.01, freq="D"
    )
    return pd.DataFrame(
        {
            "customer_id": summary.index.astype("str"),
            "clv_expected_purchases_90d": purchases.conditional_expected_number_of_purchases_up_to_time(  # noqa: E501
                90, x, t_x, age
            ).to_numpy(),
            "clv_probability_alive": np.asarray(
                purchases.conditional_probability_alive(x, t_x, age)
            ),
            "clv_expected_order_value": spend.conditional_expected_average_profit(x, m).to_numpy(),
            "clv_value": value.to_numpy(),
        }
    )


@pytest.mark.parametrize("model", ["pareto_nbd", "bg_nbd"])
def test_values_equal_lifetimes_fitted_on_the_same_history(events, model):
    got = build(events, snapshots_at(events, CUTOFF), {"transactions_model": model})
    want = lifetimes_predictions(events, model)
    bought = got.dropna(subset="clv_probability_alive").reset_index(drop=True)
    assert len(bought) == len(want) > 300  # every customer who bought before the cutoff
    assert got["clv_value"].isna().sum() == len(got) - len(want)  # first purchase later
    pdt.assert_series_equal(bought["customer_id"], want["customer_id"])
    for name in want.columns[1:]:
        np.testing.assert_allclose(bought[name], want[name], rtol=2e-3, err_msg=name)


def test_every_cutoff_equals_the_pandas_reference(events):
    snapshots = snapshots_at(events, "2024-06-01", "2024-08-15 12:00", CUTOFF)
    spec = {**ONLY_CLV, "clv": {"transactions_model": "bg_nbd", "horizon_days": 30}}
    resolved = resolve_feature_spec(spec, events, None)
    got = build_features(events, None, snapshots, resolved)
    want = reference_features(events, snapshots, resolved)
    names = feature_columns(resolved)
    assert names == [
        "clv_expected_purchases_30d",
        "clv_probability_alive",
        "clv_expected_order_value",
        "clv_value",
    ]
    assert got.groupby("cutoff")["clv_value"].count().min() > 100
    want = want[[*KEYS, *names]].sort_values(KEYS, ignore_index=True)
    # the reference's float spend means differ in the last bit from the engine's exact
    # sums, which moves the fitted parameters within the search's tolerance (about 1e-5)
    pdt.assert_frame_equal(got.sort_values(KEYS, ignore_index=True), want, rtol=1e-4)


def test_each_cutoff_is_fitted_on_its_own_history_only(events):
    both = build(events, snapshots_at(events, "2024-07-01", CUTOFF))
    alone = build(events, snapshots_at(events, CUTOFF))
    at_cutoff = both.loc[both["cutoff"] == CUTOFF].reset_index(drop=True)
    pdt.assert_frame_equal(at_cutoff, alone)
    truncated = events.loc[events["timestamp"] < CUTOFF]
    pdt.assert_frame_equal(build(truncated, snapshots_at(events, CUTOFF)), alone)


def test_the_models_are_fitted_on_every_buyer_not_only_the_snapshots(events):
    """A task's eligibility picks the snapshots; the customer base the models learn from is
    every customer who bought before the cutoff, so a subset scores as in the whole."""
    snapshots = snapshots_at(events, "2024-07-01", CUTOFF)
    whole = build(events, snapshots)
    few = snapshots["customer_id"] < "c0100"
    subset = build(events, snapshots.loc[few])
    pdt.assert_frame_equal(subset, whole.loc[whole["customer_id"] < "c0100"].reset_index(drop=True))


def test_models_fitted_on_the_whole_log_score_any_part_alike(events):
    snapshots = snapshots_at(events, "2024-07-01", CUTOFF)
    resolved = resolve_feature_spec(ONLY_CLV, events, None)
    whole = build_features(events, None, snapshots, resolved)
    models = fit_clv_models(events, snapshots["cutoff"].unique(), resolved)
    assert sorted(models) == [pd.Timestamp("2024-07-01"), CUTOFF]
    part = snapshots.loc[snapshots["customer_id"] < "c0200"]
    part_events = events.loc[events["customer_id"] < "c0200"]  # as partitioned scoring has
    scored = build_features(part_events, None, part, resolved, clv_models=models)
    pdt.assert_frame_equal(scored, whole.loc[whole["customer_id"] < "c0200"].reset_index(drop=True))
    refitted = build_features(part_events, None, part, resolved)
    assert not np.allclose(refitted["clv_value"], scored["clv_value"], equal_nan=True)


def test_a_cutoff_with_too_few_buyers_is_left_missing_with_a_warning(events):
    early = events["timestamp"].min() + pd.Timedelta(days=3)
    snapshots = snapshots_at(events, early.normalize(), CUTOFF)
    with pytest.warns(DataQualityWarning, match="customers bought before it"):
        got = build(events, snapshots, {"min_customers": 30})
    values = got.groupby("cutoff")["clv_probability_alive"].count()
    assert values.loc[early.normalize()] == 0
    assert values.loc[CUTOFF] > 300


def test_without_amounts_only_purchases_and_probability_alive(events):
    got = build(events.drop(columns="amount"), snapshots_at(events, CUTOFF))
    assert got.columns[2:].tolist() == ["clv_expected_purchases_90d", "clv_probability_alive"]
    alive = got["clv_probability_alive"].dropna()
    assert len(alive) == len(got) > 300
    assert alive.between(0, 1).all()


def test_off_by_default_leaves_the_resolved_spec_unchanged(events):
    default = resolve_feature_spec({}, events, None)
    assert "clv" not in default
    assert resolve_feature_spec({"clv": False}, events, None) == default
    assert not any(name.startswith("clv_") for name in feature_columns(default))


def test_the_training_table_predicts_over_the_task_horizon(events):
    task = {
        "name": "repurchase",
        "kind": "repurchase",
        "horizon_days": 45,
        "purchase_events": ["purchase"],
        "require_prior_purchase": True,
        "snapshots": {"kind": "calendar", "cutoffs": [str(CUTOFF.date())]},
    }
    table = build_training_table(events, None, task, ONLY_CLV)
    assert table.feature_names[0] == "clv_expected_purchases_45d"
    assert table.frame["clv_expected_purchases_45d"].notna().all()
    own = build_training_table(events, None, task, {**ONLY_CLV, "clv": {"horizon_days": 10}})
    assert own.feature_names[0] == "clv_expected_purchases_10d"


def test_lazy_features_refuse_the_family(events):
    resolved = resolve_feature_spec(ONLY_CLV, events, None)
    snapshots = snapshots_at(events, CUTOFF)
    with (
        pytest.raises(ConfigError, match=r"features\.clv"),
        lazy_features(events, None, snapshots, resolved),
    ):
        pass


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"transactions_model": "gamma"}, "transactions_model"),
        ({"horizon_days": 0}, "horizon_days"),
        ({"horizon_days": 7.5}, "horizon_days"),
        ({"min_customers": 1}, "min_customers"),
        ({"margin": 2.0}, "margin"),
    ],
)
def test_bad_settings_are_refused_naming_the_key(events, settings, key):
    with warnings.catch_warnings(), pytest.raises(ConfigError, match=key):
        resolve_feature_spec({**ONLY_CLV, "clv": settings}, events, None)
