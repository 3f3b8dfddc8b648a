"""The training-table cache key follows the feature code, not only the data and config."""

import shutil

import pytest

from behaviorlab.features import cache
from behaviorlab.features.builder import build_training_table
from tests.reference_features import random_event_log
from tests.unit.test_builder import CHURN

PARTS = {"data": "abc", "task": CHURN, "features": {"windows": [7, 30]}, "data_end": None}


@pytest.fixture
def features_copy(tmp_path):
    """A copy of the feature package's source, to change without touching the real one."""

    def copy(name: str, change: str | None = None):
        folder = tmp_path / name
        shutil.copytree(cache.FEATURES_DIR, folder, ignore=shutil.ignore_patterns("__pycache__"))
        if change is not None:
            spec = folder / "spec.py"
            spec.write_text(spec.read_text() + change)
        return folder

    return copy


def test_source_hash_follows_content_not_location(features_copy):
    same = cache.source_hash(features_copy("same"))
    assert same == cache.source_hash(cache.FEATURES_DIR)
    assert cache.source_hash(features_copy("edited", "\nCHANGED = 1\n")) != same


def test_source_hash_ignores_files_that_are_not_python(features_copy):
    folder = features_copy("notes")
    (folder / "NOTES.txt").write_text("not code")
    assert cache.source_hash(folder) == cache.source_hash(cache.FEATURES_DIR)


def test_source_hash_covers_subpackages(features_copy):
    folder = features_copy("family")
    family = next((folder / "families").glob("*.py"))
    family.write_text(family.read_text() + "\n# a changed definition\n")
    assert cache.source_hash(folder) != cache.source_hash(cache.FEATURES_DIR)


def test_cache_key_changes_with_the_feature_source(features_copy):
    key = cache.cache_key(PARTS, features_copy("same"))
    assert key == cache.cache_key(PARTS)
    assert cache.cache_key(PARTS, features_copy("edited", "\nCHANGED = 1\n")) != key


def test_cache_key_changes_with_the_package_version(monkeypatch):
    key = cache.cache_key(PARTS)
    monkeypatch.setattr(cache, "__version__", "999.0.0")
    assert cache.cache_key(PARTS) != key


def test_changed_feature_code_rebuilds_the_cached_table(features_copy, tmp_path, monkeypatch):
    events = random_event_log(n_customers=40, n_events=1500, seed=4)
    store = tmp_path / "tables"
    monkeypatch.setattr(cache, "FEATURES_DIR", features_copy("before"))
    first = build_training_table(events, None, CHURN, {}, cache_dir=store)
    again = build_training_table(events, None, CHURN, {}, cache_dir=store)
    monkeypatch.setattr(cache, "FEATURES_DIR", features_copy("after", "\nCHANGED = 1\n"))
    changed = build_training_table(events, None, CHURN, {}, cache_dir=store)
    assert not first.from_cache
    assert again.from_cache
    assert not changed.from_cache
    assert changed.path != first.path
