"""Features: derive the model inputs from the staged batch with the use case's feature query, in Postgres."""

from __future__ import annotations

import datetime as dt
import logging
import time

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pipeline.config.usecase import UseCase
from pipeline.contracts import Features
from pipeline.db.queries import features_query
from pipeline.db.staging import staging_tables
from pipeline.model.predict import FeatureError
from pipeline.scoring.shards import SHARD_COLUMN, plan, shard_expression

log = logging.getLogger(__name__)


def build_features(engine: Engine, uc: UseCase, score_date: dt.date, run_id: str, *, shards: int = 1) -> Features:
    """Create the run's features table from its staged batch with the use case's feature query.

    With ``shards`` > 1 each row also gets its shard (:data:`~pipeline.scoring.shards.SHARD_COLUMN`, computed once
    here), and the result carries the plan the ``score`` tasks are mapped over.
    """
    started = time.perf_counter()
    tables = staging_tables(uc.name, score_date, run_id)
    query = features_query(uc, tables.batch)
    if shards > 1:
        shard = shard_expression('f."entity_id"', shards)
        query = f"select f.*, {shard} as {SHARD_COLUMN} from (\n{query}\n) as f"  # noqa: S608
    with engine.begin() as conn:
        conn.execute(sa.text(f"drop table if exists {tables.features}"))
        created = conn.execute(sa.text(f"create unlogged table {tables.features} as {query}"))
        columns = [
            row[0]
            for row in conn.execute(
                sa.text(
                    "select attname from pg_attribute where attrelid = cast(:t as regclass) "
                    "and attnum > 0 and not attisdropped"
                ),
                {"t": tables.features},
            )
        ]
        missing = [c for c in ("entity_id", *uc.feature_columns) if c not in columns]
        if missing:
            raise FeatureError(
                f"{uc.name}: the feature query (sql file of 'sql.features') does not return: {', '.join(missing)}"
            )
        rows = created.rowcount  # the command tag's count ("SELECT n"): no second pass over the table
        if rows is None or rows < 0:
            rows = int(conn.execute(sa.text(f"select count(*) from {tables.features}")).scalar_one())  # noqa: S608
    seconds = time.perf_counter() - started
    log.info("built %d feature rows in %s in %.2fs", rows, tables.features, seconds)
    return Features(features_table=tables.features, rows=rows, seconds=round(seconds, 3), shards=plan(shards))
