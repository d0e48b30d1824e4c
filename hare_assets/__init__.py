"""HARE data platform: the Dagster code location (see definitions.py)."""
