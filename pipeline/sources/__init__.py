"""Loaders for demo source systems (the data a real deployment would already have in Postgres)."""
