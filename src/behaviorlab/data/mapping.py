"""Map the user's column names onto the contract, in memory (the user's files are never renamed)."""

from collections.abc import Mapping, Sequence

import pandas as pd

from behaviorlab.errors import ConfigError, DataValidationError


def source_names(columns: Mapping | None, contract: Sequence[str]) -> dict[str, str]:
    """Contract name -> the user's column name; unmapped contract names stand for themselves."""
    mapped = dict(columns or {})
    unknown = sorted(set(mapped) - set(contract))
    if unknown:
        raise ConfigError(
            f"columns maps unknown contract names {unknown}; known: {', '.join(contract)}"
        )
    users = [name for name in mapped.values() if name is not None]
    repeated = sorted({name for name in users if users.count(name) > 1})
    if repeated:
        raise ConfigError(f"columns maps the user column(s) {repeated} to more than one name")
    return {name: mapped.get(name) or name for name in contract}


def map_columns(
    frame: pd.DataFrame,
    names: Mapping[str, str],
    required: Sequence[str],
    explicit: Mapping | None,
    what: str,
) -> pd.DataFrame:
    """Rename the user's columns to contract names; other columns are kept as properties.

    A required column, or an optional one the config maps explicitly, must be present;
    the message names the contract column, the user column and what is available.
    """
    explicit = {key: value for key, value in (explicit or {}).items() if value}
    for contract_name in [*required, *explicit]:
        user_name = names[contract_name]
        if user_name not in frame.columns:
            source = (
                f"mapped from '{user_name}'"
                if user_name != contract_name
                else f"not mapped; set columns.{contract_name} to your column's name"
            )
            raise DataValidationError(
                f"{what}: required column '{contract_name}' ({source}) is missing; "
                f"available columns: {', '.join(map(str, frame.columns))}"
            )
    renames = {user: contract for contract, user in names.items() if user in frame.columns}
    clashes = sorted(
        set(renames.values()) & (set(frame.columns) - set(renames)),
    )
    if clashes:
        raise DataValidationError(
            f"{what}: column(s) {clashes} already exist in the data and would be overwritten by "
            f"the mapping {renames}; rename or map them"
        )
    return frame.rename(columns=renames)
