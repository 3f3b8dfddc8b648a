"""train_model end to end on synthetic tables, with the real config files of this room."""

from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from matplotlib.figure import Figure
from omegaconf import OmegaConf

from behaviorlab.errors import DataValidationError
from behaviorlab.modeling.calibration import fit_calibrator
from behaviorlab.modeling.estimators import LightGBMEstimator
from behaviorlab.modeling.model import freeze_categories, prepare_features
from behaviorlab.modeling.pipeline import fit_split, permute_learning_labels, train_model
from behaviorlab.modeling.splits import make_splits
from tests.unit.test_modeling_data import CATEGORICAL, FEATURES, make_table

CONF = Path(__file__).resolve().parents[2] / "conf"
EVALUATION = {
    "threshold": 0.5,
    "top_k_fracs": [0.05, 0.1, 0.2],
    "n_bins": 10,
    "n_boot": 200,
    "ci_level": 0.95,
}
EXPLAIN = {"max_rows": 300, "n_dependence": 2, "seed": 0}


def load(group: str, name: str, **overrides) -> dict:
    """A config file of this room resolved against a seed, with overrides merged in."""
    values = OmegaConf.load(CONF / group / f"{name}.yaml")
    del values["defaults"]
    node = OmegaConf.merge({"seed": 7}, {"node": values}, {"node": overrides})
    return OmegaConf.to_container(node, resolve=True)["node"]


def lightgbm_cfg() -> dict:
    """The LightGBM config with a small tree budget for tests."""
    model_cfg = load("model", "lightgbm")
    model_cfg["estimator"] |= {"n_estimators": 150, "early_stopping_rounds": 20}
    return model_cfg


def train(
    table, tmp_path, model="lightgbm", split="out_of_time", name="study", n_trials=3, **options
):
    model_cfg = lightgbm_cfg() if model == "lightgbm" else load("model", model)
    return train_model(
        table,
        FEATURES,
        CATEGORICAL,
        model_cfg=model_cfg,
        split_cfg=load("split", split),
        tuning_cfg=load("tuning", "smoke", n_trials=n_trials),
        calibration_cfg={"method": "isotonic"},
        evaluation_cfg=EVALUATION,
        explain_cfg=EXPLAIN,
        storage_url=f"sqlite:///{tmp_path / 'optuna.db'}",
        study_name=name,
        **options,
    )


@pytest.fixture(scope="module")
def lightgbm_result(tmp_path_factory):
    return train(make_table(2000, 4), tmp_path_factory.mktemp("lgb"))


def test_lightgbm_out_of_time_result_is_complete(lightgbm_result):
    result = lightgbm_result
    metrics = result.metrics
    assert metrics["roc_auc"] > 0.7
    assert 0 <= metrics["brier"] <= 0.25
    assert {
        "brier_uncalibrated",
        "val_roc_auc",
        "pr_auc",
        "precision_at_top_5pct",
        "lift_at_top_10pct",
        "f1_at_best_f1",
    } <= set(metrics)
    assert not {"brier_calibrated", "lift_top_decile", "valid_roc_auc"} & set(metrics)
    assert metrics["roc_auc_ci_low"] < metrics["roc_auc"] < metrics["roc_auc_ci_high"]
    frame = result.test_frame
    assert list(frame.columns) == ["customer_id", "cutoff", "label", "probability"]
    assert len(frame) == metrics["n"] == result.split_summary["test_rows"]
    assert frame["cutoff"].nunique() == 1
    assert "fold_roc_auc_std" not in metrics, "one out-of-time fold has no spread"
    assert frame["probability"].between(0, 1).all()
    assert set(result.best_params) == set(load("model", "lightgbm")["search_space"])
    assert len(result.study.trials) == 3


def test_lightgbm_tables_and_figures(lightgbm_result):
    tables, figures = lightgbm_result.tables, lightgbm_result.figures
    shap_sample = tables["shap_sample"]
    assert list(shap_sample.columns) == ["customer_id", "cutoff", *FEATURES]
    assert len(shap_sample) == EXPLAIN["max_rows"]
    assert tables["shap_importance"]["feature"].iloc[0] == "days_since_last_event"
    assert tables["gain_importance"]["feature"].iloc[-1] in {"noise", "avg_amount"}
    assert tables["lift"]["n"].sum() == lightgbm_result.metrics["n"]
    assert len(tables["trials"]) == 3
    expected = {
        "roc",
        "pr",
        "calibration",
        "gains",
        "confusion",
        "optuna_history",
        "optuna_importances",
        "shap_beeswarm",
        "shap_bar",
        "shap_dependence_days_since_last_event",
    }
    assert expected <= set(figures)
    for name, figure in figures.items():
        assert isinstance(figure, Figure)
        assert figure.axes[0].get_title(), name


def test_shuffled_labels_give_a_test_auc_near_one_half(tmp_path):
    table = make_table(3000, 4, seed=11)
    result = train(table, tmp_path, name="shuffled", n_trials=2, permute_labels=True)
    assert abs(result.metrics["roc_auc"] - 0.5) < 0.07
    truth = result.test_frame.merge(table, on=["customer_id", "cutoff"], suffixes=("", "_true"))
    assert (truth["label"] == truth["label_true"]).all()


@pytest.mark.slow
def test_logistic_customer_cv_pools_out_of_fold_predictions(tmp_path):
    table = make_table(2500, 1)
    result = train(table, tmp_path, model="logistic", split="customer_cv", name="cv")
    plan = make_splits(table, load("split", "customer_cv"))
    tested = table["customer_id"].iloc[plan.test_rows()]
    assert len(result.test_frame) == len(tested) == len(table) - result.split_summary["tuning_rows"]
    assert set(result.test_frame["customer_id"]) == set(tested)
    assert result.metrics["roc_auc"] > 0.7
    assert result.split_summary["n_splits"] == 5
    assert abs(result.metrics["fold_roc_auc_mean"] - result.metrics["roc_auc"]) < 0.03
    assert 0 < result.metrics["fold_roc_auc_std"] < 0.05
    assert "coefficient_importance" in result.tables
    assert result.model.kind == "logistic"
    assert result.model.predict_proba(table.head(10)).shape == (10,)


def test_rerun_resumes_the_study_without_new_trials(tmp_path):
    table = make_table(800, 3, seed=5)
    first = train(table, tmp_path, name="rerun", n_trials=2)
    second = train(table, tmp_path, name="rerun", n_trials=2)
    assert len(second.study.trials) == 2
    assert second.best_params == first.best_params
    np.testing.assert_allclose(second.test_frame["probability"], first.test_frame["probability"])


@pytest.mark.parametrize(
    ("rows", "message"), [(slice(0, 0), "no rows"), (slice(0, 50), "both classes")]
)
def test_untrainable_tables_fail_with_the_reason(tmp_path, rows, message):
    table = make_table(100, 2)
    table["label"] = 1
    with pytest.raises(DataValidationError, match=message):
        train(table.iloc[rows], tmp_path)


def features_and_labels(table):
    """The model matrix, labels and frozen categories of a test table."""
    categories = freeze_categories(table, CATEGORICAL)
    return (
        prepare_features(table, FEATURES, categories),
        table["label"].to_numpy().astype(int),
        categories,
    )


class RecordingLightGBM(LightGBMEstimator):
    """LightGBM that notes the table rows each tuning trial fits on and scores."""

    tuning_rows: ClassVar[list[np.ndarray]] = []

    def fit(self, X, y, X_valid=None, y_valid=None, on_iteration=None):
        if on_iteration is not None:
            self.tuning_rows.extend([X.index.to_numpy(), X_valid.index.to_numpy()])
        return super().fit(X, y, X_valid, y_valid, on_iteration)


def test_customer_cv_tuning_never_sees_a_tested_row(tmp_path):
    table = make_table(1500, 1, seed=3)
    model_cfg = lightgbm_cfg()
    model_cfg["estimator"]["_target_"] = f"{__name__}.RecordingLightGBM"
    RecordingLightGBM.tuning_rows.clear()
    result = train_model(
        table,
        FEATURES,
        CATEGORICAL,
        model_cfg=model_cfg,
        split_cfg=load("split", "customer_cv", n_folds=3),
        tuning_cfg=load("tuning", "smoke", n_trials=2),
        calibration_cfg={"method": "sigmoid"},
        evaluation_cfg=EVALUATION,
        explain_cfg=EXPLAIN,
        storage_url=f"sqlite:///{tmp_path / 'optuna.db'}",
        study_name="recorded",
    )
    seen = table["customer_id"].iloc[np.concatenate(RecordingLightGBM.tuning_rows)]
    tested = result.test_frame["customer_id"]
    assert len(RecordingLightGBM.tuning_rows) == 4
    assert 0.1 < seen.nunique() / len(table) < 0.3
    assert len(tested) > 0.7 * len(table)
    assert not set(seen) & set(tested)


def test_calibrator_is_fitted_on_rows_early_stopping_never_saw():
    table = make_table(1500, 4, seed=2)
    X, y, categories = features_and_labels(table)
    (fold,) = make_splits(table, load("split", "out_of_time")).folds
    assert len(np.intersect1d(fold.valid, fold.calibrate)) == 0
    fit = fit_split(X, y, fold, lightgbm_cfg(), {}, {"method": "sigmoid"}, categories)
    raw = fit.model.predict_raw(X.iloc[fold.calibrate])
    expected = fit_calibrator(raw, y[fold.calibrate], {"method": "sigmoid"})
    np.testing.assert_allclose(fit.model.calibrator.logistic_.coef_, expected.logistic_.coef_)
    on_valid = fit_calibrator(
        fit.model.predict_raw(X.iloc[fold.valid]), y[fold.valid], {"method": "sigmoid"}
    )
    assert not np.allclose(fit.model.calibrator.logistic_.coef_, on_valid.logistic_.coef_)


def test_permuting_a_cv_fold_shuffles_its_learning_labels_only():
    table = make_table(600, 1, seed=4)
    y = table["label"].to_numpy()
    plan = make_splits(table, load("split", "customer_cv"))
    for number, fold in enumerate(plan.folds):
        permuted = permute_learning_labels(y, fold, seed=number)
        np.testing.assert_array_equal(permuted[fold.test], y[fold.test])
        learning = np.concatenate([fold.train, fold.valid, fold.calibrate])
        assert sorted(permuted[learning]) == sorted(y[learning])
        assert (permuted[learning] != y[learning]).mean() > 0.2


def test_shuffled_labels_under_customer_cv_keep_true_test_labels(tmp_path):
    table = make_table(2500, 1, seed=12)
    result = train(
        table, tmp_path, split="customer_cv", name="cv-shuffled", n_trials=2, permute_labels=True
    )
    assert abs(result.metrics["roc_auc"] - 0.5) < 0.07
    truth = result.test_frame.merge(table, on=["customer_id", "cutoff"], suffixes=("", "_true"))
    assert len(truth) == result.split_summary["test_rows"] > 1500
    assert (truth["label"] == truth["label_true"]).all()
