"""Scoring: one module per task of a scoring DAG, ``<name>__score`` (extract, validate, features, shards, score,
publish), the Arrow stream between PostgreSQL and the model (:mod:`.stream`), and which date a run scores
(:mod:`.dates`).
"""
