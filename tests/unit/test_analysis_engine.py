"""Analysis SQL over pandas frames and over lazy DuckDB tables read where they lie."""

import duckdb
import ibis
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from behaviorlab.analysis.engine import has_column, query
from behaviorlab.errors import ConfigError

SQL = """
select c.customer_id, c.plan, count(*) as n
from events e join customers c using (customer_id)
where e.event = $event group by 1, 2 order by 1
"""


@pytest.fixture
def events():
    return pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "c"],
            "event": ["buy", "buy", "buy", "view"],
        }
    )


@pytest.fixture
def customers():
    return pd.DataFrame({"customer_id": ["a", "b", "c"], "plan": ["pro", "free", "free"]})


@pytest.fixture
def lazy_events(events, tmp_path):
    events.to_parquet(tmp_path / "events.parquet")
    return ibis.duckdb.connect().read_parquet(tmp_path / "events.parquet")


def test_frames_and_lazy_tables_give_the_same_result(events, customers, lazy_events):
    expected = pd.DataFrame({"customer_id": ["a", "b"], "plan": ["pro", "free"], "n": [2, 1]})
    from_frames = query(SQL, {"event": "buy"}, events=events, customers=customers)
    from_lazy = query(SQL, {"event": "buy"}, events=lazy_events, customers=customers)
    assert_frame_equal(from_frames, expected)
    assert_frame_equal(from_lazy, expected)


def test_lazy_query_leaves_no_names_on_the_engine(customers, lazy_events):
    con = ibis.get_backend(lazy_events).con
    before = con.execute("select view_name from duckdb_views() where temporary").fetchall()
    query(SQL, {"event": "buy"}, events=lazy_events, customers=customers)
    with pytest.raises(duckdb.BinderException, match="missing"):
        query("select missing from events", events=lazy_events)
    after = con.execute("select view_name from duckdb_views() where temporary").fetchall()
    assert after == before
    assert query("select count(*) as n from events", events=lazy_events)["n"].iloc[0] == 4


def test_lazy_tables_of_two_engines_are_refused(events, tmp_path, lazy_events):
    events.to_parquet(tmp_path / "other.parquet")
    other = ibis.duckdb.connect().read_parquet(tmp_path / "other.parquet")
    with pytest.raises(ConfigError, match="one engine"):
        query("select * from a, b", a=lazy_events, b=other)


def test_has_column_on_frames_and_lazy_tables(events, lazy_events):
    assert has_column(events, "event")
    assert has_column(lazy_events, "event")
    assert not has_column(events, "amount")
    assert not has_column(lazy_events, "amount")
