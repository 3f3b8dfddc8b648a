"""Snapshots, labels and point-in-time feature families (Ibis expressions)."""
