"""Score: stream the run's features out of Postgres in chunks, predict, stream the scores back in.

COPY (csv) out, ``predict_proba`` per chunk, COPY in to a run-scoped scores table: the batch never sits in
one DataFrame and never goes through ``to_sql``. The predictions table is only touched by publish.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import time
from contextlib import closing
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pipeline.features import model_frame, parse_copy_chunk
from pipeline.registry import ModelVersion, get_champion, load_artifact
from pipeline.settings import load_settings
from pipeline.staging import count_rows, staging_tables
from pipeline.usecase import UseCase

log = logging.getLogger(__name__)


class ScoringError(RuntimeError):
    """The model produced something that cannot be published."""


def predict_chunk(model: Any, frame: pd.DataFrame, uc: UseCase, threshold: float) -> pd.DataFrame:
    """Scores and labels for one parsed chunk (pure)."""
    proba = model.predict_proba(model_frame(frame, uc))[:, 1]
    if not np.all(np.isfinite(proba)) or proba.min(initial=0.0) < 0 or proba.max(initial=0.0) > 1:
        raise ScoringError(f"{uc.name}: the model returned probabilities outside [0, 1] or NaN")
    return pd.DataFrame(
        {"entity_id": frame["entity_id"].to_numpy(), "score": proba, "predicted_label": proba >= threshold}
    )


class _ChunkedScorer:
    """File-like sink for ``copy_expert``: psycopg2 hands over one row per ``write``."""

    def __init__(self, model: Any, uc: UseCase, columns: list[str], threshold: float,
                 writer: Any, target: str, chunk_rows: int, progress: Any) -> None:
        self.model, self.uc, self.columns, self.threshold = model, uc, columns, threshold
        self.writer, self.target, self.chunk_rows, self.progress = writer, target, chunk_rows, progress
        self.rows: list[bytes] = []
        self.scored = 0
        self.chunks = 0

    def write(self, row: bytes) -> int:
        self.rows.append(row)
        if len(self.rows) >= self.chunk_rows:
            self.flush()
        return len(row)

    def flush(self) -> None:
        if not self.rows:
            return
        frame = parse_copy_chunk(self.rows, self.columns, self.uc)
        self.rows = []
        scores = predict_chunk(self.model, frame, self.uc, self.threshold)
        buffer = io.StringIO()
        scores.to_csv(buffer, index=False, header=False)
        buffer.seek(0)
        with closing(self.writer.cursor()) as cur:
            cur.copy_expert(
                f"copy {self.target} (entity_id, score, predicted_label) from stdin with (format csv)", buffer
            )
        self.scored += len(scores)
        self.chunks += 1
        self.progress.update(len(scores))


def score_features(
    engine: Engine,
    uc: UseCase,
    score_date: dt.date,
    run_id: str,
    *,
    model_version: ModelVersion | None = None,
    chunk_rows: int | None = None,
    show_progress: bool | None = None,
    into: str = "scores",
) -> dict[str, Any]:
    """Score the run's features table with the champion (or ``model_version``) into its scores table
    (``into="shadow"``: the shadow scores table).

    Idempotent per run: the target table is recreated on every attempt. Returns a small dict for XCom.
    """
    from tqdm import tqdm

    started = time.perf_counter()
    mv = model_version or get_champion(engine, uc.name)
    model = load_artifact(mv)
    tables = staging_tables(uc.name, score_date, run_id)
    target = getattr(tables, into)
    expected = count_rows(engine, tables.features)
    chunk_rows = chunk_rows or load_settings().chunk_rows
    columns = ["entity_id", *uc.feature_columns]
    select_list = ", ".join(f'"{c}"' for c in columns)  # names validated when the use case was loaded

    with engine.begin() as conn:
        conn.execute(sa.text(f"drop table if exists {target}"))
        conn.execute(
            sa.text(
                f"create unlogged table {target} "
                "(entity_id text not null, score double precision not null, predicted_label boolean not null)"
            )
        )
    reader = engine.raw_connection()
    writer = engine.raw_connection()
    try:
        with tqdm(total=expected, unit="rows", desc=f"score {score_date}", disable=show_progress is False
                  if show_progress is not None else None, leave=False) as progress:
            sink = _ChunkedScorer(model, uc, columns, mv.threshold, writer, target, chunk_rows, progress)
            with closing(reader.cursor()) as cur:
                cur.copy_expert(
                    f"copy (select {select_list} from {tables.features}) to stdout "  # noqa: S608
                    "with (format csv, null '\\N')",
                    sink,
                )
            sink.flush()
        writer.commit()
        reader.commit()
    except BaseException:
        writer.rollback()
        reader.rollback()
        raise
    finally:
        writer.close()
        reader.close()

    if sink.scored != expected:
        raise ScoringError(f"{uc.name} {score_date}: scored {sink.scored} rows but the batch has {expected}")
    seconds = time.perf_counter() - started
    rate = sink.scored / seconds if seconds > 0 else float("nan")
    log.info("scored %d rows with %s %s in %d chunks, %.2fs (%.0f rows/s)",
             sink.scored, uc.name, mv.version, sink.chunks, seconds, rate)
    return {
        "scores_table": target,
        "rows": sink.scored,
        "model_version": mv.version,
        "model_sha256": mv.artifact_sha256,
        "threshold": mv.threshold,
        "chunks": sink.chunks,
        "seconds": round(seconds, 3),
        "rows_per_second": round(rate, 1),
    }
