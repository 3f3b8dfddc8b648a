"""Validation: each broken rule is one clear message naming the column, count and rows."""

import warnings

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from behaviorlab.data.mapping import map_columns, source_names
from behaviorlab.data.validation import (
    DataQualityWarning,
    check_id_overlap,
    validate_customers,
    validate_events,
)
from behaviorlab.errors import ConfigError, DataValidationError

NOW = pd.Timestamp("2024-06-30")


def raw_events(**overrides) -> pd.DataFrame:
    """Three events as text, the way a CSV reader hands them over."""
    columns = {
        "customer_id": ["a", "a", "b"],
        "timestamp": ["2024-01-01 10:00:00", "2024-01-02 11:30:00", "2024-01-03"],
        "event": ["view", "purchase", "view"],
        "amount": ["0", "12.5", None],
    }
    return pd.DataFrame(columns | overrides)


def test_valid_events_get_canonical_dtypes_and_order():
    raw = raw_events().assign(platform=["ios", "ios", "web"])[
        ["platform", "event", "timestamp", "customer_id", "amount"]
    ]
    events = validate_events(raw, now=NOW)
    expected = pd.DataFrame(
        {
            "customer_id": pd.Series(["a", "a", "b"], dtype="str"),
            "timestamp": pd.Series(
                pd.to_datetime(["2024-01-01 10:00", "2024-01-02 11:30", "2024-01-03 00:00"]),
                dtype="datetime64[us]",
            ),
            "event": pd.Series(["view", "purchase", "view"], dtype="str"),
            "amount": [0.0, 12.5, float("nan")],
            "platform": pd.Series(["ios", "ios", "web"], dtype="str"),
        }
    )
    assert_frame_equal(events, expected)


def test_missing_column_names_contract_and_available_columns():
    with pytest.raises(DataValidationError, match="required column 'timestamp' is missing") as err:
        validate_events(raw_events().drop(columns="timestamp"), now=NOW)
    assert "available columns: customer_id, event, amount" in str(err.value)


def test_misnamed_mapped_column_names_the_user_column():
    raw = raw_events().rename(columns={"timestamp": "time"})
    names = source_names({"timestamp": "date"}, ["customer_id", "timestamp", "event"])
    with pytest.raises(DataValidationError) as err:
        map_columns(raw, names, ["customer_id", "timestamp", "event"], {"timestamp": "date"}, "x")
    message = str(err.value)
    assert "'timestamp' (mapped from 'date') is missing" in message
    assert "available columns: customer_id, time, event, amount" in message


def test_unparseable_timestamp_names_column_count_and_rows():
    raw = raw_events(timestamp=["2024-01-01", "yesterday", "2024-13-45"])
    with pytest.raises(DataValidationError) as err:
        validate_events(raw, now=NOW, names={"timestamp": "when"})
    message = str(err.value)
    assert "'when' (timestamp)" in message
    assert "2 of 3 values that do not parse" in message
    assert "row 1 'yesterday'" in message
    assert "row 2 '2024-13-45'" in message


def test_timestamp_format_is_applied():
    raw = raw_events(timestamp=["20240101", "20240102", "20240103"])
    events = validate_events(raw, {"timestamp_format": "%Y%m%d"}, now=NOW)
    assert events["timestamp"].tolist() == list(pd.date_range("2024-01-01", periods=3))
    with pytest.raises(DataValidationError, match="timestamp_format '%Y-%m-%d'"):
        validate_events(raw, {"timestamp_format": "%Y-%m-%d"}, now=NOW)


def test_missing_timestamp_is_rejected():
    raw = raw_events(timestamp=["2024-01-01", None, "2024-01-03"])
    with pytest.raises(DataValidationError, match=r"'timestamp' has no timestamp in 1 of 3 rows"):
        validate_events(raw, now=NOW)


def test_future_timestamp_names_column_count_and_rows():
    raw = raw_events(timestamp=["2024-01-01", "2024-07-01 00:00:01", "2030-01-01"])
    with pytest.raises(DataValidationError) as err:
        validate_events(raw, {"future_tolerance": "1d"}, now=NOW)
    message = str(err.value)
    assert "'timestamp' has 2 of 3 timestamps later than now + future_tolerance" in message
    assert "row 1 '2024-07-01 00:00:01'" in message
    assert "row 2 '2030-01-01 00:00:00'" in message


def test_future_tolerance_allows_clock_skew():
    raw = raw_events(timestamp=["2024-01-01", "2024-06-30 12:00", "2024-06-30 23:59"])
    assert len(validate_events(raw, {"future_tolerance": "1d"}, now=NOW)) == 3
    with pytest.raises(DataValidationError, match="later than now"):
        validate_events(raw, {"future_tolerance": "0"}, now=NOW)


def test_bad_tolerance_is_a_config_error():
    with pytest.raises(ConfigError, match="future_tolerance 'soon'"):
        validate_events(raw_events(), {"future_tolerance": "soon"}, now=NOW)


def test_null_id_names_column_and_rows():
    raw = raw_events(customer_id=["a", None, ""])
    with pytest.raises(DataValidationError) as err:
        validate_events(raw, now=NOW, names={"customer_id": "user"})
    message = str(err.value)
    assert "'user' (customer_id) is empty in 2 of 3 rows" in message
    assert "row 1" in message
    assert "row 2 ''" in message


def test_null_event_is_rejected():
    with pytest.raises(DataValidationError, match="'event' is empty in 1 of 3 rows"):
        validate_events(raw_events(event=["view", None, "view"]), now=NOW)


def test_non_numeric_amount_names_column_and_values():
    raw = raw_events(amount=["1.5", "$3", "free"])
    with pytest.raises(DataValidationError) as err:
        validate_events(raw, now=NOW, names={"amount": "price"})
    message = str(err.value)
    assert "'price' (amount) has 2 of 3 values that are not numbers" in message
    assert "row 1 '$3'" in message
    assert "row 2 'free'" in message


def test_negative_amount_rejected_unless_allowed():
    raw = raw_events(amount=["1.5", "-3", "2"])
    with pytest.raises(DataValidationError, match=r"'amount' has 1 of 3 negative amounts: row 1"):
        validate_events(raw, now=NOW)
    events = validate_events(raw, {"allow_negative_amounts": True}, now=NOW)
    assert events["amount"].tolist() == [1.5, -3.0, 2.0]


def test_duplicates_are_reported_and_kept_by_default():
    raw = pd.concat([raw_events(), raw_events().iloc[[1]]], ignore_index=True)
    with pytest.warns(DataQualityWarning, match=r"events: 1 of 4 rows duplicate .* were kept"):
        events = validate_events(raw, now=NOW)
    assert len(events) == 4


def test_duplicates_are_dropped_when_configured():
    raw = pd.concat([raw_events(), raw_events().iloc[[1, 1]]], ignore_index=True)
    with pytest.warns(DataQualityWarning, match=r"2 of 5 rows duplicate .* were dropped"):
        events = validate_events(raw, {"drop_duplicates": True}, now=NOW)
    assert_frame_equal(events, validate_events(raw_events(), now=NOW))


def test_empty_input_is_rejected():
    with pytest.raises(DataValidationError, match="events: the input has no rows"):
        validate_events(raw_events().iloc[:0], now=NOW)


def test_wrong_timestamp_type_names_column_and_type():
    raw = raw_events(timestamp=[1.5, 2.5, 3.5])
    with pytest.raises(DataValidationError) as err:
        validate_events(raw, now=NOW, names={"timestamp": "t"})
    message = str(err.value)
    assert "'t' (timestamp) has type float64, which cannot be read as timestamps" in message
    assert "row 0 1.5" in message


def test_fractional_numeric_ids_are_the_wrong_type():
    raw = raw_events(customer_id=[1.0, 2.5, 3.0])
    with pytest.raises(DataValidationError, match=r"'customer_id' holds 1 of 3 non-integer"):
        validate_events(raw, now=NOW)


def test_integer_ids_and_timestamps_become_text_and_dates():
    raw = raw_events(customer_id=[7, 7, 8], timestamp=[20240101, 20240102, 20240103])
    events = validate_events(raw, {"timestamp_format": "%Y%m%d"}, now=NOW)
    assert events["customer_id"].tolist() == ["7", "7", "8"]
    assert events["customer_id"].dtype == "str"
    assert events["timestamp"].iloc[2] == pd.Timestamp("2024-01-03")


def test_aware_timestamps_become_naive_utc():
    raw = raw_events(
        timestamp=["2024-01-01T10:00:00+02:00", "2024-01-01T10:00:00Z", "2024-07-01T10:00:00-04:00"]
    )
    events = validate_events(raw, now=pd.Timestamp("2025-01-01"))
    assert events["timestamp"].dtype == "datetime64[us]"
    assert events["timestamp"].tolist() == [
        pd.Timestamp("2024-01-01 08:00"),
        pd.Timestamp("2024-01-01 10:00"),
        pd.Timestamp("2024-07-01 14:00"),
    ]


def test_naive_timestamps_in_a_timezone_are_localised_then_converted():
    raw = raw_events(timestamp=["2024-01-15 12:00", "2024-07-15 12:00", "2024-07-15T12:00+00:00"])
    events = validate_events(raw, {"timezone": "Europe/Paris"}, now=pd.Timestamp("2025-01-01"))
    assert events["timestamp"].tolist() == [
        pd.Timestamp("2024-01-15 11:00"),
        pd.Timestamp("2024-07-15 10:00"),
        pd.Timestamp("2024-07-15 12:00"),
    ]


def test_aware_datetime_column_becomes_naive_utc():
    stamps = pd.Series(pd.to_datetime(["2024-03-01 09:00"] * 3)).dt.tz_localize("America/New_York")
    events = validate_events(raw_events(timestamp=stamps), now=NOW)
    assert events["timestamp"].tolist() == [pd.Timestamp("2024-03-01 14:00")] * 3


def test_unknown_timezone_is_a_config_error():
    with pytest.raises(ConfigError, match="timezone 'Mars/Olympus'"):
        validate_events(raw_events(), {"timezone": "Mars/Olympus"}, now=NOW)


def test_customers_get_text_ids_categories_and_signup():
    raw = pd.DataFrame(
        {
            "customer_id": [1, 2],
            "signup_at": ["2024-01-01", None],
            "plan": ["pro", "free"],
            "age": [31, 45],
        }
    )
    customers = validate_customers(raw, now=NOW)
    expected = pd.DataFrame(
        {
            "customer_id": pd.Series(["1", "2"], dtype="str"),
            "signup_at": pd.Series([pd.Timestamp("2024-01-01"), pd.NaT], dtype="datetime64[us]"),
            "plan": pd.Categorical(["pro", "free"]),
            "age": [31, 45],
        }
    )
    assert_frame_equal(customers, expected)


def test_repeated_customer_ids_are_rejected():
    raw = pd.DataFrame({"customer_id": ["a", "b", "a"], "plan": ["pro", "free", "free"]})
    with pytest.raises(DataValidationError, match=r"'customer_id' repeats ids: 2 of 3 rows"):
        validate_customers(raw, now=NOW)


def test_empty_customers_are_rejected():
    with pytest.raises(DataValidationError, match="customers: the input has no rows"):
        validate_customers(pd.DataFrame({"customer_id": []}), now=NOW)


def test_clock_change_hours_read_as_documented():
    raw = raw_events(timestamp=["2024-03-31 02:30", "2024-10-27 02:30", "2024-10-27 03:30"])
    events = validate_events(raw, {"timezone": "Europe/Paris"}, now=pd.Timestamp("2025-01-01"))
    assert events["timestamp"].tolist() == [
        pd.Timestamp("2024-03-31 01:00"),
        pd.Timestamp("2024-10-27 01:30"),
        pd.Timestamp("2024-10-27 02:30"),
    ]


def test_duplicates_need_every_column_equal():
    raw = raw_events(
        customer_id=["a", "a", "a"], timestamp=["2024-01-01"] * 3, amount=["1", "1", "2"]
    )
    raw = raw.assign(event=["view", "view", "view"])
    with pytest.warns(DataQualityWarning, match=r"1 of 3 rows duplicate .* rows 1 \(row 1"):
        events = validate_events(raw, {"drop_duplicates": True}, now=NOW)
    assert events["amount"].tolist() == [1.0, 2.0]


def test_infinite_amounts_are_rejected_even_when_negatives_are_allowed():
    raw = raw_events(amount=["1.5", "-inf", "2"])
    with pytest.raises(DataValidationError, match=r"'amount' has 1 of 3 infinite amounts: row 1"):
        validate_events(raw, {"allow_negative_amounts": True}, now=NOW)


def test_earliest_is_configurable_and_can_be_switched_off():
    raw = raw_events(timestamp=["1985-06-01", "2024-01-02", "2024-01-03"])
    with pytest.raises(DataValidationError, match=r"1 of 3 timestamps before .* \(1990-01-01\)"):
        validate_events(raw, now=NOW)
    assert len(validate_events(raw, {"earliest": "1980-01-01"}, now=NOW)) == 3
    assert len(validate_events(raw, {"earliest": None}, now=NOW)) == 3
    with pytest.raises(ConfigError, match=r"validation\.earliest 'long ago'"):
        validate_events(raw, {"earliest": "long ago"}, now=NOW)


def test_epoch_numbers_get_a_conversion_hint_with_their_unit():
    milliseconds = raw_events(timestamp=["1704067200000", "1704153600000", "1704240000000"])
    with pytest.raises(DataValidationError, match=r"epoch milliseconds: .*epoch_ms\(ts\) as ts"):
        validate_events(milliseconds, now=NOW, names={"timestamp": "ts"})
    integers = raw_events(timestamp=[1704067200, 1704153600, 1704240000])
    with pytest.raises(DataValidationError, match=r"type int64.*epoch seconds"):
        validate_events(integers, now=NOW)
    dates = raw_events(timestamp=[20240101, 20240102, 20240103])
    with pytest.raises(DataValidationError) as err:
        validate_events(dates, now=NOW)
    assert "epoch" not in str(err.value)


def canonical_ids(ids: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": pd.Series(ids, dtype="str")})


def test_matching_customer_table_passes_silently():
    events = raw_events().assign(customer_id=["a", "a", "b"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_id_overlap(events, canonical_ids(["a", "b"]))
    check_id_overlap(None, canonical_ids(["a"]))
    check_id_overlap(events, None)


@pytest.mark.parametrize(
    ("event_ids", "customer_ids", "spelling"),
    [
        (["a", "b"], [" a", "b "], "surrounding spaces"),
        (["ab", "cd"], ["AB", "CD"], "letter case"),
        (["7", "12"], ["0007", "0012"], "leading zeros"),
    ],
)
def test_no_overlap_names_the_spelling_difference(event_ids, customer_ids, spelling):
    with pytest.raises(DataValidationError, match=rf"0.0% .* once {spelling} is ignored"):
        check_id_overlap(canonical_ids(event_ids), canonical_ids(customer_ids))


def test_overlap_threshold_decides_between_error_and_warning():
    events = canonical_ids(["a", "b", "c"])
    customers = canonical_ids(["a", "b", "x", "y"])
    with pytest.raises(DataValidationError, match=r"50.0% \(2 of 4\).*below .* \(60%\)"):
        check_id_overlap(events, customers, {"min_id_overlap": 0.6})
    with pytest.warns(DataQualityWarning, match=r"50.0% \(2 of 4\).* e.g. 'x', 'y'"):
        check_id_overlap(events, customers, {"min_id_overlap": 0.5})
    with pytest.raises(ConfigError, match=r"min_id_overlap '1\.5' must be a share"):
        check_id_overlap(events, customers, {"min_id_overlap": 1.5})
