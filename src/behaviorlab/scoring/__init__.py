"""Batch scoring and the pyfunc model that deployment loads."""
