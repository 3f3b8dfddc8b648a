"""Estimators, splits, tuning, calibration, evaluation and explanations."""
