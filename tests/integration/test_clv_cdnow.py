"""CDNOW, calibration to 1997-09-30 and holdout to 1998-06-30: the CLV summary, fits and
scores equal lifetimes 0.11.3's on the same data.

Parameter figures are lifetimes' maximum-likelihood estimates on this summary (days).
"""

import warnings

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

from behaviorlab.modeling.clv import (
    BetaGeoModel,
    GammaGammaModel,
    ParetoNBDModel,
    check_holdout,
    customer_lifetime_value,
    summarize_purchases,
)
from tests.helpers import read_cdnow_purchases

lifetimes = pytest.importorskip("lifetimes")
from lifetimes.utils import calibration_and_holdout_data  # noqa: E402

pytestmark = pytest.mark.shared_data
CUTOFF, HOLDOUT_END = pd.Timestamp("1997-10-01"), pd.Timestamp("1998-07-01")
PEER = {
    BetaGeoModel: {"r": 0.2516, "alpha": 33.52, "a": 0.7234, "b": 2.161},
    ParetoNBDModel: {"r": 0.597, "alpha": 81.10, "s": 0.522, "beta": 61.78},
    GammaGammaModel: {"p": 6.275, "q": 3.624, "v": 14.98},
}
PEER_NAMES = {
    "frequency_cal": "frequency",
    "recency_cal": "recency",
    "T_cal": "T",
    "monetary_value_cal": "monetary_value",
}


@pytest.fixture(scope="module")
def transactions(shared_data) -> pd.DataFrame:
    return read_cdnow_purchases(shared_data)


def peer_summary(transactions: pd.DataFrame) -> pd.DataFrame:
    """lifetimes' calibration_and_holdout_data, renamed to the product's columns."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peer = calibration_and_holdout_data(
            transactions,
            "customer_id",
            "timestamp",
            calibration_period_end="1997-09-30",
            observation_period_end="1998-06-30",
            monetary_value_col="amount",
        )
    peer = peer.rename(columns=PEER_NAMES).rename_axis("customer_id").reset_index()
    peer["customer_id"] = peer["customer_id"].astype("str")
    return peer.sort_values("customer_id", ignore_index=True)


@pytest.fixture(scope="module")
def peer(transactions) -> pd.DataFrame:
    return peer_summary(transactions)


@pytest.fixture(scope="module")
def summary(transactions) -> pd.DataFrame:
    return summarize_purchases(transactions, CUTOFF, HOLDOUT_END)


@pytest.fixture(scope="module")
def models(summary) -> dict:
    return {cls: cls().fit(summary) for cls in PEER}


def test_summary_equals_lifetimes_for_every_customer(peer, summary):
    assert len(summary) == 23_570
    columns = [name for name in summary.columns if name != "monetary_value_holdout"]
    pdt.assert_frame_equal(summary[columns], peer[columns])


def test_holdout_spend_is_the_mean_daily_sum(transactions, summary):
    """lifetimes averages the holdout rows themselves; the product averages purchase days
    (the calibration convention), which lifetimes gives on day-summed transactions."""
    daily = (
        transactions.assign(timestamp=transactions["timestamp"].dt.normalize())
        .groupby(["customer_id", "timestamp"], as_index=False)["amount"]
        .sum()
    )
    pdt.assert_frame_equal(summary, peer_summary(daily)[summary.columns])


@pytest.mark.parametrize("model_class", list(PEER))
def test_parameters_match_lifetimes(models, model_class):
    got = models[model_class].params_
    for name, value in PEER[model_class].items():
        assert got[name] == pytest.approx(value, rel=0.01), name


def peer_model(model):
    """The lifetimes fitter of the same kind, carrying our parameters."""
    fitter = {
        BetaGeoModel: lifetimes.BetaGeoFitter,
        ParetoNBDModel: lifetimes.ParetoNBDFitter,
        GammaGammaModel: lifetimes.GammaGammaFitter,
    }[type(model)]()
    fitter.params_ = pd.Series(model.params_)
    if not isinstance(model, GammaGammaModel):
        fitter.predict = fitter.conditional_expected_number_of_purchases_up_to_time
    return fitter


@pytest.mark.parametrize("model_class", [BetaGeoModel, ParetoNBDModel])
def test_scores_equal_lifetimes_on_the_same_parameters(summary, models, model_class):
    model, peer = models[model_class], peer_model(models[model_class])
    x, t_x, age = summary["frequency"], summary["recency"], summary["T"]
    with np.errstate(all="ignore"):
        want_alive = peer.conditional_probability_alive(x, t_x, age)
        want_bought = peer.conditional_expected_number_of_purchases_up_to_time(90, x, t_x, age)
    np.testing.assert_allclose(model.probability_alive(summary), want_alive, rtol=1e-6)
    np.testing.assert_allclose(model.expected_purchases(summary, 90), want_bought, rtol=1e-6)


def test_order_value_and_clv_equal_lifetimes(summary, models):
    spend, counts = models[GammaGammaModel], models[BetaGeoModel]
    peer_spend, peer_counts = peer_model(spend), peer_model(counts)
    x, m = summary["frequency"], summary["monetary_value"]
    np.testing.assert_allclose(
        spend.expected_order_value(summary),
        peer_spend.conditional_expected_average_profit(x, m),
        rtol=1e-9,
    )
    want = peer_spend.customer_lifetime_value(
        peer_counts, x, summary["recency"], summary["T"], m, time=12, discount_rate=0.01
    )
    got = customer_lifetime_value(counts, spend, summary, 12, 0.01, 0.3)
    np.testing.assert_allclose(got, 0.3 * want.to_numpy(), rtol=1e-6)


@pytest.mark.parametrize("model_class", [BetaGeoModel, ParetoNBDModel])
def test_holdout_totals(peer, summary, models, model_class):
    """Predicted and actual holdout purchase days, in total and for one-time buyers, as
    lifetimes computes them from its own summary."""
    model, fitter = models[model_class], peer_model(models[model_class])
    with np.errstate(all="ignore"):
        predicted = fitter.conditional_expected_number_of_purchases_up_to_time(
            peer["duration_holdout"], peer["frequency"], peer["recency"], peer["T"]
        ).to_numpy()
    actual = peer["frequency_holdout"].to_numpy()
    check = check_holdout(summary, model)
    assert check.actual_total == actual.sum()
    assert check.predicted_total == pytest.approx(predicted.sum(), rel=1e-6)
    assert check.total_error == pytest.approx(predicted.sum() / actual.sum() - 1, rel=1e-5)
    assert check.mean_absolute_error == pytest.approx(np.abs(predicted - actual).mean(), rel=1e-6)
    once = peer["frequency"].to_numpy() == 0
    row = check.by_frequency.set_index("frequency").loc["0"]
    assert row["customers"] == once.sum()
    assert row["actual"] == pytest.approx(actual[once].mean())
    assert row["predicted"] == pytest.approx(predicted[once].mean(), rel=1e-6)
