"""Features: derive model inputs from the staged batch (in Postgres), and type them for the model (pure)."""

from __future__ import annotations

import datetime as dt
import io
import logging
import time
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pipeline.queries import features_query
from pipeline.shards import SHARD_COLUMN, plan, shard_expression
from pipeline.staging import staging_tables
from pipeline.usecase import UseCase

log = logging.getLogger(__name__)

NULL_TOKEN = "\\N"


class FeatureError(RuntimeError):
    """The feature query did not return what the use case declares."""


def build_features(engine: Engine, uc: UseCase, score_date: dt.date, run_id: str, *,
                   shards: int = 1) -> dict[str, Any]:
    """Create the run's features table from its staged batch with the use case's feature query.

    With ``shards`` > 1 each row also gets its shard (:data:`~pipeline.shards.SHARD_COLUMN`, computed once
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
    return {"features_table": tables.features, "rows": rows, "seconds": round(seconds, 3), "shards": plan(shards)}


def model_frame(frame: pd.DataFrame, uc: UseCase) -> pd.DataFrame:
    """The model's input columns in declared order: categoricals as object strings, numerics as float64.

    Used on the training set and on every scoring chunk, so both reach the model typed the same way.
    """
    missing = [c for c in uc.feature_columns if c not in frame.columns]
    if missing:
        raise FeatureError(f"{uc.name}: feature columns missing from the frame: {', '.join(missing)}")
    out = {}
    for column in uc.categorical:
        values = frame[column]
        out[column] = values.astype(object).where(values.notna(), np.nan)
    for column in uc.numeric:
        out[column] = pd.to_numeric(frame[column], errors="raise").astype("float64")
    return pd.DataFrame(out, index=frame.index)


def parse_copy_chunk(rows: list[bytes], columns: list[str], uc: UseCase) -> pd.DataFrame:
    """Parse rows of ``COPY ... TO STDOUT (FORMAT csv, NULL '\\N')`` into a typed frame."""
    dtypes: dict[str, Any] = {c: "float64" for c in uc.numeric}
    dtypes.update({c: object for c in uc.categorical})
    dtypes["entity_id"] = object
    frame = pd.read_csv(
        io.BytesIO(b"".join(rows)),
        header=None,
        names=columns,
        dtype=dtypes,
        na_values=[NULL_TOKEN],
        keep_default_na=False,
    )
    return frame
