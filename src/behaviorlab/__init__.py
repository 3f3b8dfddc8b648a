"""behaviorlab: explainable churn, conversion and repurchase models from customer behaviour."""

__version__ = "0.1.0"
