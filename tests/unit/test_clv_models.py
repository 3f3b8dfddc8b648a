"""CLV models on tiny hand-written logs and simulated summaries.

The summary conventions are lifetimes' (same-day purchases are one occasion, T runs to the
day before the cutoff); the fits must sit at a likelihood maximum; CLV discounts monthly.
"""

import json

import duckdb
import ibis
import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

from behaviorlab.errors import ConfigError, DataValidationError
from behaviorlab.modeling.clv import (
    BetaGeoModel,
    GammaGammaModel,
    ParetoNBDModel,
    check_holdout,
    customer_lifetime_value,
    score_clv,
    segment_clv,
    summarize_purchases,
)
from behaviorlab.modeling.clv.bgnbd import bgnbd_gradient, bgnbd_log_likelihood
from behaviorlab.modeling.clv.gammagamma import gammagamma_gradient, gammagamma_log_likelihood
from behaviorlab.modeling.clv.paretonbd import paretonbd_log_likelihood


def purchases(with_amounts: bool = True) -> pd.DataFrame:
    rows = [
        ("a", "2024-01-01 10:00", 10.0),
        ("a", "2024-01-01 15:00", 5.0),  # same day: one occasion worth 15
        ("a", "2024-01-05 09:00", 20.0),
        ("a", "2024-01-10 23:59", 30.0),  # the calibration end day
        ("b", "2024-01-08 12:00", 7.0),
        ("c", "2024-01-11 00:00", 9.0),  # at the cutoff: a holdout purchase of no customer
        ("a", "2024-01-12 08:00", 4.0),
        ("a", "2024-01-12 18:00", 6.0),
        ("a", "2024-01-20 12:00", 10.0),
        ("a", "2024-01-21 00:00", 100.0),  # at holdout_end: outside the window
    ]
    frame = pd.DataFrame(rows, columns=["customer_id", "timestamp", "amount"])
    frame["customer_id"] = frame["customer_id"].astype("str")
    frame["timestamp"] = pd.to_datetime(frame["timestamp"]).astype("datetime64[us]")
    return frame if with_amounts else frame.drop(columns="amount")


EXPECTED = pd.DataFrame(
    {
        "customer_id": pd.array(["a", "b"], dtype="str"),
        "frequency": [2.0, 0.0],
        "recency": [9.0, 0.0],
        "T": [9.0, 2.0],
        "monetary_value": [25.0, 0.0],
    }
)


def test_summary_counts_purchase_days_up_to_the_day_before_the_cutoff():
    got = summarize_purchases(purchases(), pd.Timestamp("2024-01-11"))
    pdt.assert_frame_equal(got, EXPECTED)


def test_summary_holdout_window_is_cutoff_to_holdout_end():
    got = summarize_purchases(purchases(), "2024-01-11", holdout_end="2024-01-21")
    want = EXPECTED.assign(
        frequency_holdout=[2.0, 0.0],
        monetary_value_holdout=[10.0, 0.0],  # daily sums 10 and 10
        duration_holdout=[10.0, 10.0],
    )
    pdt.assert_frame_equal(got, want)


def test_summary_of_a_lazy_duckdb_table_equals_the_frame():
    con = ibis.duckdb.from_connection(duckdb.connect())
    table = con.create_table("purchases", purchases())
    got = summarize_purchases(table, "2024-01-11", holdout_end="2024-01-21")
    pdt.assert_frame_equal(got, summarize_purchases(purchases(), "2024-01-11", "2024-01-21"))


def test_summary_without_amounts_has_no_monetary_value():
    got = summarize_purchases(purchases(with_amounts=False), "2024-01-11", "2024-01-21")
    assert got["monetary_value"].isna().all()
    assert got["monetary_value_holdout"].isna().all()
    pdt.assert_frame_equal(got[EXPECTED.columns[:4]], EXPECTED[EXPECTED.columns[:4]])


def test_summary_refuses_a_holdout_that_ends_before_it_starts():
    with pytest.raises(DataValidationError, match="holdout_end"):
        summarize_purchases(purchases(), "2024-01-11", holdout_end="2024-01-11")


def simulate_summary(n: int, seed: int = 3) -> pd.DataFrame:
    """Pareto/NBD customers observed for 100-300 days: Poisson buying until an exponential
    dropout; the last of n uniform purchase times gives the recency. Gamma-Gamma spend: the
    mean of x Gamma(p, nu) amounts is Gamma(p x, nu x), with nu ~ Gamma(q, v)."""
    rng = np.random.default_rng(seed)
    age = rng.uniform(100, 300, n)
    rate = rng.gamma(0.8, 1 / 20, n)
    lifetime = rng.exponential(1 / rng.gamma(0.7, 1 / 150, n))
    observed = np.minimum(lifetime, age)
    frequency = rng.poisson(rate * observed)
    recency = observed * rng.uniform(size=n) ** (1 / np.maximum(frequency, 1))
    repeat = np.maximum(frequency, 1)
    monetary = rng.gamma(3.0 * repeat, 1 / (rng.gamma(4.0, 1 / 60, n) * repeat))
    return pd.DataFrame(
        {
            "customer_id": pd.array([f"c{i}" for i in range(n)], dtype="str"),
            "frequency": frequency.astype("float64"),
            "recency": np.where(frequency > 0, recency, 0.0),
            "T": age,
            "monetary_value": np.where(frequency > 0, monetary, 0.0),
        }
    )


@pytest.fixture(scope="module")
def simulated() -> pd.DataFrame:
    return simulate_summary(3000)


@pytest.fixture(scope="module")
def fitted(simulated) -> dict:
    """Each model fitted once on the simulated summary."""
    return {cls: cls().fit(simulated) for cls in (BetaGeoModel, ParetoNBDModel, GammaGammaModel)}


@pytest.mark.parametrize(
    ("model_class", "log_likelihood", "columns"),
    [
        (BetaGeoModel, bgnbd_log_likelihood, ("frequency", "recency", "T")),
        (ParetoNBDModel, paretonbd_log_likelihood, ("frequency", "recency", "T")),
        (GammaGammaModel, gammagamma_log_likelihood, ("frequency", "monetary_value")),
    ],
)
def test_fit_sits_at_a_likelihood_maximum(simulated, fitted, model_class, log_likelihood, columns):
    model = fitted[model_class]
    kept = simulated
    if model_class is GammaGammaModel:
        kept = simulated[(simulated["frequency"] > 0) & (simulated["monetary_value"] > 0)]
    data = [kept[name].to_numpy() for name in columns]
    best = np.array(model.param_values())
    at_best = log_likelihood(best, *data).sum()
    assert at_best == pytest.approx(model.log_likelihood_, rel=1e-9)
    for i in range(len(best)):
        for factor in (0.97, 1.03):
            moved = best.copy()
            moved[i] *= factor
            assert log_likelihood(moved, *data).sum() < at_best


def test_models_round_trip_through_json(simulated, fitted):
    for model in (fitted[BetaGeoModel], fitted[ParetoNBDModel]):
        restored = type(model).from_dict(json.loads(json.dumps(model.to_dict())))
        assert restored.params_ == model.params_
        np.testing.assert_array_equal(
            restored.expected_purchases(simulated, 30), model.expected_purchases(simulated, 30)
        )
        np.testing.assert_array_equal(
            restored.probability_alive(simulated), model.probability_alive(simulated)
        )
    spend = fitted[GammaGammaModel]
    restored = GammaGammaModel.from_dict(json.loads(json.dumps(spend.to_dict())))
    np.testing.assert_array_equal(
        restored.expected_order_value(simulated), spend.expected_order_value(simulated)
    )


def test_from_dict_refuses_another_model(fitted):
    stored = fitted[BetaGeoModel].to_dict()
    with pytest.raises(ConfigError, match="bg_nbd"):
        ParetoNBDModel.from_dict(stored)


def test_unfitted_model_refuses_to_score(simulated):
    with pytest.raises(ConfigError, match="not fitted"):
        BetaGeoModel().probability_alive(simulated)


def test_penalizer_shrinks_the_parameters(simulated, fitted):
    """The L2 penalty applies on the rescaled time axis (oldest customer's T = 1)."""
    scale = simulated["T"].max()

    def norm(model: BetaGeoModel) -> float:
        r, alpha, a, b = model.param_values()
        return r**2 + (alpha / scale) ** 2 + a**2 + b**2

    shrunk = BetaGeoModel(penalizer=0.1).fit(simulated)
    assert shrunk.to_dict()["penalizer"] == 0.1
    assert norm(shrunk) < 0.9 * norm(fitted[BetaGeoModel])


def test_more_recent_buyers_are_more_alive_and_buy_more(fitted):
    histories = pd.DataFrame({"frequency": [3.0, 3.0], "recency": [50.0, 190.0], "T": [200.0] * 2})
    for model in (fitted[BetaGeoModel], fitted[ParetoNBDModel]):
        alive = model.probability_alive(histories)
        bought = model.expected_purchases(histories, 90)
        assert alive[1] > alive[0]
        assert bought[1] > bought[0]


def test_gamma_gamma_gives_one_time_buyers_the_population_mean():
    model = GammaGammaModel.from_dict(
        {"model": "gamma_gamma", "params": {"p": 2.0, "q": 3.0, "v": 10.0}}
    )
    summary = pd.DataFrame({"frequency": [0.0, 4.0], "monetary_value": [0.0, 30.0]})
    # population mean v p / (q - 1) = 10; weight p x / (p x + q - 1) = 0.8
    np.testing.assert_allclose(model.expected_order_value(summary), [10.0, 0.2 * 10 + 0.8 * 30])


class MonthlyBuyer:
    """One purchase every 30 days, for sure alive: CLV is then a plain annuity."""

    def expected_purchases(self, summary: pd.DataFrame, t_days: float) -> np.ndarray:
        return np.full(len(summary), t_days / 30.0)

    def probability_alive(self, summary: pd.DataFrame) -> np.ndarray:
        return np.ones(len(summary))


def test_clv_discounts_each_month():
    summary = pd.DataFrame({"customer_id": ["x"], "frequency": [0.0], "monetary_value": [0.0]})
    spend = GammaGammaModel.from_dict(
        {"model": "gamma_gamma", "params": {"p": 2.0, "q": 3.0, "v": 10.0}}
    )
    annuity = 1 / 1.1 + 1 / 1.1**2 + 1 / 1.1**3
    got = customer_lifetime_value(MonthlyBuyer(), spend, summary, 3, 0.1, 0.5)
    np.testing.assert_allclose(got, [10.0 * 0.5 * annuity])
    counted = customer_lifetime_value(MonthlyBuyer(), None, summary, 3, 0.1, 0.5)
    np.testing.assert_allclose(counted, [annuity])


def test_clv_refuses_bad_settings():
    summary = pd.DataFrame({"customer_id": ["x"], "frequency": [0.0]})
    with pytest.raises(ConfigError, match="margin"):
        customer_lifetime_value(MonthlyBuyer(), None, summary, 3, 0.1, 1.5)
    with pytest.raises(ConfigError, match="months"):
        customer_lifetime_value(MonthlyBuyer(), None, summary, 0, 0.1, 0.5)


def test_score_clv_columns_and_alive_model():
    summary = pd.DataFrame({"customer_id": ["x", "y"], "frequency": [0.0, 1.0]})
    scored = score_clv(
        summary,
        MonthlyBuyer(),
        None,
        horizon_days=90,
        months=2,
        monthly_discount=0.0,
        margin=1.0,
    )
    assert list(scored.columns) == [
        "customer_id",
        "expected_purchases",
        "probability_alive",
        "expected_order_value",
        "clv",
    ]
    np.testing.assert_allclose(scored["expected_purchases"], [3.0, 3.0])
    np.testing.assert_allclose(scored["clv"], [2.0, 2.0])
    assert scored["expected_order_value"].isna().all()


def test_segments_split_by_clv_rank_and_alive_threshold():
    scored = pd.DataFrame(
        {
            "customer_id": pd.array([f"c{i}" for i in range(10)], dtype="str"),
            "clv": [float(v) for v in (1, 2, 3, 4, 5, 6, 7, 8, 10, 10)],
            "probability_alive": [0.9, 0.1] * 5,
        }
    )
    got = segment_clv(scored.iloc[::-1], value_shares=(0.2, 0.3), alive_threshold=0.5)
    got = got.sort_values("customer_id")
    assert list(got["value_tier"]) == ["low"] * 5 + ["medium"] * 3 + ["high"] * 2
    assert list(got["status"]) == ["alive", "at risk"] * 5
    assert got["segment"].iloc[-1] == "high value, at risk"
    with pytest.raises(ConfigError, match="value_shares"):
        segment_clv(scored, value_shares=(0.7, 0.5))


def test_holdout_check_by_frequency_and_totals():
    summary = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d"],
            "frequency": [0.0, 0.0, 2.0, 9.0],
            "frequency_holdout": [0.0, 2.0, 3.0, 6.0],
            "duration_holdout": [60.0] * 4,
        }
    )
    check = check_holdout(summary, MonthlyBuyer(), max_frequency=3)  # predicts 2 each
    table = check.by_frequency
    assert list(table["frequency"]) == ["0", "1", "2", "3+"]
    assert list(table["customers"]) == [2, 0, 1, 1]
    np.testing.assert_allclose(table["actual"], [1.0, np.nan, 3.0, 6.0])
    np.testing.assert_allclose(table["predicted"], [2.0, np.nan, 2.0, 2.0])
    assert check.predicted_total == 8.0
    assert check.actual_total == 11.0
    assert check.total_error == pytest.approx(-3 / 11)
    assert check.mean_absolute_error == pytest.approx((2 + 0 + 1 + 4) / 4)


@pytest.mark.parametrize(
    ("log_likelihood", "gradient", "params", "columns"),
    [
        (
            bgnbd_log_likelihood,
            bgnbd_gradient,
            [0.3, 20.0, 0.8, 2.5],
            ("frequency", "recency", "T"),
        ),
        (
            gammagamma_log_likelihood,
            gammagamma_gradient,
            [5.0, 3.0, 15.0],
            ("frequency", "monetary_value"),
        ),
    ],
)
def test_closed_form_gradients_match_finite_differences(
    simulated, log_likelihood, gradient, params, columns
):
    kept = simulated[simulated["frequency"] > 0].head(200)
    data = [kept[name].to_numpy() for name in columns]
    params = np.array(params)
    numeric = np.stack(
        [
            (log_likelihood(params + step, *data) - log_likelihood(params - step, *data))
            / (2 * step[i])
            for i, step in enumerate(np.diag(params * 1e-6))
        ]
    )
    np.testing.assert_allclose(gradient(params, *data), numeric, rtol=1e-5, atol=1e-8)


def test_bg_nbd_expectation_is_finite_and_continuous_when_a_plus_b_is_below_one():
    """Below a + b = 1 a one-time buyer's hypergeometric series turns negative."""
    summary = pd.DataFrame(
        {"frequency": [0.0, 0.0, 3.0], "recency": [0.0, 0.0, 40.0], "T": [30.0, 200.0, 90.0]}
    )
    below, above = BetaGeoModel(), BetaGeoModel()
    below.params_ = {"r": 0.25, "alpha": 30.0, "a": 0.3, "b": 0.69}
    above.params_ = {"r": 0.25, "alpha": 30.0, "a": 0.3, "b": 0.71}
    low, high = below.expected_purchases(summary, 90.0), above.expected_purchases(summary, 90.0)
    assert np.isfinite(low).all()
    assert (low > 0).all()
    np.testing.assert_allclose(low, high, rtol=0.01)
