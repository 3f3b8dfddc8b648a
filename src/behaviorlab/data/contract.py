"""Canonical column names and dtypes every room relies on.

Sources map the user's columns onto these names; nothing downstream knows the
original names. Timestamps are naive UTC ``datetime64[us]``; ids are strings.
"""

CUSTOMER_ID = "customer_id"
TIMESTAMP = "timestamp"
EVENT = "event"
AMOUNT = "amount"
SESSION_ID = "session_id"
SIGNUP_AT = "signup_at"
VALID_FROM = "valid_from"
VALID_TO = "valid_to"
CUTOFF = "cutoff"
LABEL = "label"
GROUP = "group"
ASSIGNED_AT = "assigned_at"
VARIANT = "variant"

EVENT_REQUIRED = (CUSTOMER_ID, TIMESTAMP, EVENT)
EVENT_OPTIONAL = (AMOUNT, SESSION_ID)
CUSTOMER_REQUIRED = (CUSTOMER_ID,)
SNAPSHOT_KEYS = (CUSTOMER_ID, CUTOFF)
ASSIGNMENT_REQUIRED = (CUSTOMER_ID, GROUP, ASSIGNED_AT)
ASSIGNMENT_OPTIONAL = (VARIANT,)

TIMESTAMP_DTYPE = "datetime64[us]"
ID_DTYPE = "str"
