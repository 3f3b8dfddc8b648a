"""Attributes from the customer table: numerics as float64, categoricals as category with
the levels frozen at resolution (unseen levels become missing), plus days since signup.

A lookup, not an aggregate over events, so it is a pandas merge rather than an engine pass.
"""

import pandas as pd

from behaviorlab.data.contract import CUSTOMER_ID, CUTOFF, SIGNUP_AT


def columns(p: dict) -> list[str]:
    """The frozen attribute columns, then days since signup when the table has it."""
    names = [c["name"] for c in p["columns"]]
    return [*names, "days_since_signup"] if p.get("signup") else names


def compute(customers: pd.DataFrame, snapshots: pd.DataFrame, p: dict) -> pd.DataFrame:
    """Snapshot keys with the attribute values (one row per snapshot, snapshot order)."""
    wanted = [c["name"] for c in p["columns"]] + ([SIGNUP_AT] if p.get("signup") else [])
    table = customers[[CUSTOMER_ID, *wanted]].astype({CUSTOMER_ID: "str"})
    table = table.drop_duplicates(CUSTOMER_ID, keep="last")
    merged = snapshots[[CUSTOMER_ID, CUTOFF]].merge(table, on=CUSTOMER_ID, how="left")
    for column in p["columns"]:
        merged[column["name"]] = cast_attribute(merged[column["name"]], column)
    if p.get("signup"):
        elapsed = merged[CUTOFF] - merged[SIGNUP_AT].astype("datetime64[us]")
        merged["days_since_signup"] = elapsed / pd.Timedelta(days=1)
    return merged[[CUSTOMER_ID, CUTOFF, *columns(p)]]


def cast_attribute(values: pd.Series, column: dict) -> pd.Series:
    """float64, or category over the frozen levels (compared as strings; unseen -> missing)."""
    if column["kind"] == "numeric":
        return values.astype("float64")
    as_text = values.astype("str").where(values.notna())
    known = as_text.where(as_text.isin(column["levels"]))
    return known.astype(pd.CategoricalDtype(column["levels"]))
