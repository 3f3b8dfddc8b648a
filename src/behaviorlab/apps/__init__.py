"""Thin Hydra entry points that wire the rooms together from config."""
