"""Sources, column mapping, validation and the behaviour simulator."""
