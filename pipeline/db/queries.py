"""Compose a use case's SQL files into the statements the stages run.

The batch query, the feature query over it and the label query are each written once; scoring and training
both go through the functions here, so training sees exactly the features scoring will see.
"""

from __future__ import annotations

from pipeline.config.usecase import UseCase
from pipeline.db.sql import load_sql, strip_trailing_semicolon


def batch_query(uc: UseCase) -> str:
    """The batch query (binds ``:date_from`` and ``:date_to``)."""
    return strip_trailing_semicolon(uc.query("batch"))


def features_query(uc: UseCase, batch_relation: str) -> str:
    """The feature query over ``batch_relation`` (a quoted table name or a parenthesised query)."""
    features = strip_trailing_semicolon(uc.query("features"))
    # composes project SQL files and a validated relation name; values stay bind parameters
    return f"with batch as (select * from {batch_relation} as b)\nselect * from (\n{features}\n) as features"  # noqa: S608


def freshness_probe(uc: UseCase, probe_table: str) -> str:
    """CREATE the run's freshness probe (binds ``:score_date``) from the use case's freshness query."""
    freshness = strip_trailing_semicolon(uc.query("freshness"))
    return load_sql("validation/freshness_probe.sql", probe=probe_table).replace("/* freshness query */", freshness)


def training_query(uc: UseCase) -> str:
    """Features joined to labels known at ``:known_at``, for score dates ``:date_from``..``:date_to``.

    The batch and the features are computed by the very queries scoring uses; only labels whose
    ``label_known_at`` is not after the cut-off enter.
    """
    batch = batch_query(uc)
    labels = strip_trailing_semicolon(uc.query("labels"))
    features = features_query(uc, f"(\n{batch}\n)")
    return (
        f"with features as (\n{features}\n),\nlabels as (\n{labels}\n)\n"
        "select features.*, labels.label\n"
        "from features\n"
        "join labels using (entity_id, score_date)\n"
        "where labels.label_known_at <= cast(:known_at as timestamptz)"
    )


def labelled_scores_query(uc: UseCase, scored_table: str) -> str:
    """Scores of ``scored_table`` (predictions or shadow scores, a quoted name) joined to the labels known at
    ``:as_of``, for score dates ``:date_from``..``:date_to``."""
    labels = strip_trailing_semicolon(uc.query("labels"))
    return load_sql("monitoring/labelled_scores.sql", scored=scored_table).replace("/* labels query */", labels)
