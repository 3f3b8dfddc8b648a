"""Running analysis SQL on pandas frames with an in-process DuckDB."""

import duckdb
import pandas as pd


def query(sql: str, params: dict | None = None, **frames: pd.DataFrame) -> pd.DataFrame:
    """Run ``sql`` with each keyword frame visible as a table of that name.

    Values the user chose (event names, dates) travel as ``$name`` parameters, never
    spliced into the SQL text.

    A fresh connection per call keeps analyses free of shared state; DuckDB scans the
    frames in place, so nothing is copied on the way in.
    """
    with duckdb.connect() as con:
        for name, frame in frames.items():
            con.register(name, frame)
        return con.execute(sql, params or {}).df()
