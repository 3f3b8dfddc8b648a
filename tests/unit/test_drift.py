"""Population stability: zero for the same distribution, large for a shifted one."""

import numpy as np
import pandas as pd

from behaviorlab.scoring.drift import DriftAccumulator, profile_features


def make_frame(shift: float, n: int = 4000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "spend": rng.gamma(2.0, 10.0, n) + shift,
            "plan": pd.Categorical(rng.choice(["free", "pro"], n, p=[0.7, 0.3])),
        }
    )


def test_identical_data_has_no_drift_and_chunks_add_up():
    train = make_frame(0.0)
    profile = profile_features(train, ["spend", "plan"])
    accumulator = DriftAccumulator(profile)
    for chunk in np.array_split(np.arange(len(train)), 3):
        accumulator.update(train.iloc[chunk])
    report = accumulator.report(warn_above=0.2).set_index("feature")
    assert report["psi"].max() < 1e-6
    assert not report["warning"].any()


def test_shifted_feature_is_flagged_and_stable_one_is_not():
    profile = profile_features(make_frame(0.0), ["spend", "plan"])
    report = DriftAccumulator(profile).update(make_frame(25.0, seed=1)).report(0.2)
    report = report.set_index("feature")
    assert report.loc["spend", "psi"] > 0.5
    assert report.loc["spend", "warning"]
    assert report.loc["plan", "psi"] < 0.02


def test_missing_values_and_unseen_levels_get_their_own_bin():
    train = make_frame(0.0)
    profile = profile_features(train, ["spend", "plan"])
    new = train.assign(spend=np.nan, plan=pd.Categorical(["enterprise"] * len(train)))
    report = DriftAccumulator(profile).update(new).report(0.2).set_index("feature")
    assert report["psi"].min() > 1.0


def test_missing_and_unseen_shares_are_reported_per_feature():
    train = make_frame(0.0)
    profile = profile_features(train, ["spend", "plan"])
    new = train.assign(spend=train["spend"].where(np.arange(len(train)) % 4 != 0))
    raw = pd.DataFrame({"plan": ["enterprise"] * 400 + ["free"] * (len(train) - 400)})
    masked = new.assign(plan=new["plan"].where(raw["plan"] != "enterprise"))
    report = DriftAccumulator(profile).update(masked, raw=raw).report(0.2).set_index("feature")
    assert report.loc["spend", "missing_train"] == 0.0
    assert report.loc["spend", "missing_now"] == 0.25
    assert report.loc["plan", "unseen_now"] == 400 / len(train)
    assert report.loc["spend", "unseen_now"] == 0.0


def test_calendar_features_are_listed_as_excluded_not_measured():
    train = make_frame(0.0).assign(days_since_signup=np.arange(4000.0))
    profile = profile_features(train, ["spend", "days_since_signup"])
    later = train.assign(days_since_signup=train["days_since_signup"] + 365)
    accumulator = DriftAccumulator(profile, exclude=["days_since_signup"]).update(later)
    report = accumulator.report(0.2)
    assert report["feature"].tolist() == ["spend"]
    assert accumulator.excluded == ["days_since_signup"]
