"""Every config composes against its schema; a misspelt key anywhere fails at compose time;
library code takes its settings from config and has no default of its own."""

from pathlib import Path

import numpy as np
import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from behaviorlab.apps.common import CONF_DIR, to_plain
from behaviorlab.modeling.calibration import SigmoidCalibrator, fit_calibrator
from behaviorlab.modeling.splits import split_out_of_time
from behaviorlab.modeling.tuning import run_study
from tests.helpers import compose_config
from tests.unit.test_modeling_data import make_table

GROUP_OPTIONS = {
    group: sorted(path.stem for path in (CONF_DIR / group).glob("*.yaml"))
    for group in ("data", "task", "features", "model", "split", "tuning")
}

# (app, dotted path of a section, a misspelt key in it)
TYPOS = [
    ("train", "task", "horizon_dayz"),
    ("train", "tuning", "n_trail"),
    ("train", "split", "held_out_fractoin"),
    ("train", "model.estimator", "n_estimator"),
    ("train", "model", "search_spaces"),
    ("train", "data", "event"),
    ("train", "data.events", "timestamp_fromat"),
    ("train", "data.validation", "earlist"),
    ("train", "data.simulate", "n_customer"),
    ("train", "paths", "cache_dri"),
    ("train", "features", "as_off"),
    ("train", "tracking", "stale_after_minute"),
    ("train", "registry", "promote_after_trainig"),
    ("train", "registry.gate", "holdout_fractoin"),
    ("train", "calibration", "methd"),
    ("train", "evaluation", "n_bin"),
    ("train", "explain", "max_row"),
    ("train", "scoring", "n_reason"),
    ("train", "task.snapshots", "every_day"),
    ("train", "", "permute_label"),
    ("score", "", "chunksize"),
    ("score", "output", "paht"),
    ("score", "data", "nmae"),
    ("promote", "registry.gate", "alfa"),
    ("promote", "task", "horizon_dayz"),
    ("promote", "", "actoin"),
    ("analyze", "analysis.clusters", "sample_sise"),
    ("analyze", "analysis.funnel", "stpes"),
    ("analyze", "data.customers", "from_event"),
    ("analyze", "", "truth_paht"),
]


def local_file(folder: Path, section: str, key: str) -> list[str]:
    """A git-ignored style local override file holding one misspelt key; the overrides
    that make the app compose with it."""
    nested: dict = {key: 1}
    for part in reversed([part for part in section.split(".") if part]):
        nested = {part: nested}
    (folder / "local").mkdir(parents=True)
    (folder / "local" / "default.yaml").write_text(
        "# @package _global_\n" + OmegaConf.to_yaml(OmegaConf.create(nested))
    )
    return [f"hydra.searchpath=[file://{folder}]"]


@pytest.mark.parametrize(("app", "section", "key"), TYPOS)
def test_a_misspelt_key_in_any_section_fails_at_compose_time(tmp_path, app, section, key):
    overrides = local_file(tmp_path, section, key)
    with pytest.raises(ConfigCompositionException) as failure:
        compose_config(app, overrides)
    message = str(failure.value)
    assert "ConfigKeyError" in message
    assert f"Key '{key}' not in" in message
    assert f"full_key: {'.'.join(filter(None, [section, key]))}" in message


def test_the_same_local_file_without_a_typo_composes(tmp_path):
    overrides = local_file(tmp_path, "tuning", "n_trials")
    assert compose_config("train", overrides).tuning.n_trials == 1


@pytest.mark.parametrize("app", ["train", "score", "promote", "analyze", "simulate"])
def test_each_app_composes_with_every_value_set(app):
    cfg = compose_config(app, [])
    assert OmegaConf.missing_keys(cfg) == set()
    OmegaConf.to_container(cfg, resolve=True)


@pytest.mark.parametrize(
    "override",
    [f"{group}={option}" for group, options in GROUP_OPTIONS.items() for option in options]
    + [f"analysis={name}" for name in ("rfm", "cohorts", "funnel", "clusters", "all")],
)
def test_every_config_file_composes_with_every_value_set(override):
    app = "analyze" if override.startswith("analysis=") else "train"
    cfg = compose_config(app, [override])
    assert OmegaConf.missing_keys(cfg) == set()
    OmegaConf.to_container(cfg, resolve=True)


def test_a_wrong_type_fails_at_compose_time(tmp_path):
    (tmp_path / "local").mkdir()
    (tmp_path / "local" / "default.yaml").write_text(
        "# @package _global_\ntuning:\n  n_trials: many\n"
    )
    with pytest.raises(ConfigCompositionException, match="n_trials"):
        compose_config("train", [f"hydra.searchpath=[file://{tmp_path}]"])


def test_calibration_follows_the_config():
    cfg = compose_config("train", [])
    p = np.linspace(0.05, 0.95, 40)
    y = (np.arange(40) % 3 == 0).astype(int)
    assert isinstance(fit_calibrator(p, y, to_plain(cfg.calibration)), SigmoidCalibrator)
    with pytest.raises(KeyError, match="method"):
        fit_calibrator(p, y, {})


def test_the_out_of_time_split_purges_with_the_task_horizon():
    cfg = compose_config("train", [])
    split = to_plain(cfg.split)
    assert split["horizon_days"] == cfg.task.horizon_days == 30
    assert split["seed"] == cfg.seed
    without = {key: value for key, value in split.items() if key != "horizon_days"}
    with pytest.raises(KeyError, match="horizon_days"):
        split_out_of_time(make_table(n_customers=200, n_cutoffs=5), without)


def test_tuning_budget_comes_from_the_config_only():
    with pytest.raises(KeyError, match="n_trials"):
        run_study(None, lambda trial: 0.0, {})
    assert compose_config("train", []).tuning.n_trials == 30


def test_clustering_settings_come_from_the_config():
    clusters = compose_config("analyze", []).analysis.clusters
    assert (clusters.seed, clusters.sample_size) == (7, 3000)
