"""Score: stream the run's features out of Postgres in chunks, predict, stream the scores back in.

COPY (csv) out, ``predict_proba`` per chunk, COPY in to a run-scoped scores table: the batch never sits in
one DataFrame and never goes through ``to_sql``. The predictions table is only touched by publish.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import queue
import threading
import time
from contextlib import closing, suppress
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pipeline.features import model_frame, parse_copy_chunk
from pipeline.registry import ModelVersion, get_champion, load_artifact
from pipeline.settings import load_settings
from pipeline.shards import SHARD_COLUMN, ShardError, check_shard
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


_DONE = object()  # end of a queue


class _Aborted(Exception):
    """Raised inside the COPY-out sink to stop reading when the scoring side failed."""


class _ChunkSink:
    """File-like sink for ``copy_expert``: psycopg2 hands over one row per ``write``; full chunks go to a
    bounded queue (the reader waits when the scorer is behind, so memory stays flat)."""

    def __init__(self, chunks: queue.Queue, chunk_rows: int, stop: threading.Event) -> None:
        self.chunks, self.chunk_rows, self.stop = chunks, chunk_rows, stop
        self.rows: list[bytes] = []

    def write(self, row: bytes) -> int:
        self.rows.append(row)
        if len(self.rows) >= self.chunk_rows:
            self.flush()
        return len(row)

    def flush(self) -> None:
        while self.rows:
            if self.stop.is_set():
                raise _Aborted
            try:
                self.chunks.put(self.rows, timeout=0.5)
                self.rows = []
            except queue.Full:
                continue


def _in_thread(name: str, target: Any, errors: list[BaseException], *args: Any) -> threading.Thread:
    def run() -> None:
        try:
            target(*args)
        except _Aborted:
            pass
        except BaseException as exc:  # re-raised by the scoring thread
            errors.append(exc)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread


def _put(q: queue.Queue, item: Any, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            q.put(item, timeout=0.5)
            return
        except queue.Full:
            continue


def stream_scores(reader: Any, writer: Any, select_sql: str, target: str, columns: list[str], model: Any,
                  uc: UseCase, threshold: float, chunk_rows: int, progress: Any) -> tuple[int, int]:
    """COPY rows out (reader thread), predict chunk by chunk (this thread), COPY scores in (writer thread).

    The database produces and consumes COPY data in its own processes, so the three overlap. Queues hold at
    most two chunks each. Returns (rows scored, chunks); any failure stops the other two and is raised here.
    """
    chunks: queue.Queue = queue.Queue(maxsize=2)
    outputs: queue.Queue = queue.Queue(maxsize=2)
    stop = threading.Event()
    errors: list[BaseException] = []

    def read() -> None:
        sink = _ChunkSink(chunks, chunk_rows, stop)
        try:
            with closing(reader.cursor()) as cur:
                cur.copy_expert(select_sql, sink)
            sink.flush()
        finally:
            _put(chunks, _DONE, stop)

    def write() -> None:
        copy_in = f"copy {target} (entity_id, score, predicted_label) from stdin with (format csv)"
        with closing(writer.cursor()) as cur:
            while (item := outputs.get()) is not _DONE:
                if stop.is_set():
                    return
                cur.copy_expert(copy_in, item)

    reading = _in_thread("copy-out", read, errors)
    writing = _in_thread("copy-in", write, errors)
    scored = n_chunks = 0
    try:
        while True:
            try:
                item = chunks.get(timeout=0.5)
            except queue.Empty:
                if errors:
                    break
                continue
            if item is _DONE:
                break
            scores = predict_chunk(model, parse_copy_chunk(item, columns, uc), uc, threshold)
            buffer = io.StringIO()
            scores.to_csv(buffer, index=False, header=False)
            buffer.seek(0)
            _put(outputs, buffer, stop)
            scored += len(scores)
            n_chunks += 1
            progress.update(len(scores))
            if errors:
                break
    except BaseException:
        stop.set()
        raise
    finally:
        if errors:
            stop.set()
        if stop.is_set():
            with suppress(queue.Full):  # wake the writer if it waits for work; it sees `stop` and returns
                outputs.put_nowait(_DONE)
        else:
            _put(outputs, _DONE, stop)
        reading.join()
        writing.join()
    if errors:
        raise errors[0]
    return scored, n_chunks


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
    shard: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Score the run's features table with the champion (or ``model_version``) into its scores table
    (``into="shadow"``: the shadow scores table).

    ``shard`` (``{"index": i, "count": N}`` from :func:`pipeline.shards.plan`) scores only the rows of shard i
    into that shard's own scores table; several shards can run at once, in different processes.
    Idempotent per run and shard: the target table is recreated on every attempt. Returns a small dict for XCom.
    """
    from tqdm import tqdm

    started = time.perf_counter()
    index, count = check_shard(shard)
    if count > 1 and into != "scores":
        raise ShardError("only the champion's scores are sharded; shadow scoring runs on the whole batch")
    mv = model_version or get_champion(engine, uc.name)
    model = load_artifact(mv)
    tables = staging_tables(uc.name, score_date, run_id)
    target = tables.shard_scores(index, count) if into == "scores" else getattr(tables, into)
    where = f" where {SHARD_COLUMN} = {index}" if count > 1 else ""  # two validated ints
    expected = count_rows(engine, tables.features, where)
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
            scored, n_chunks = stream_scores(
                reader, writer,
                f"copy (select {select_list} from {tables.features}{where}) to stdout "  # noqa: S608
                "with (format csv, null '\\N')",
                target, columns, model, uc, mv.threshold, chunk_rows, progress,
            )
        writer.commit()
        reader.commit()
    except BaseException:
        writer.rollback()
        reader.rollback()
        raise
    finally:
        writer.close()
        reader.close()

    part = f" (shard {index}/{count})" if count > 1 else ""
    if scored != expected:
        raise ScoringError(f"{uc.name} {score_date}{part}: scored {scored} rows but the batch has {expected}")
    seconds = time.perf_counter() - started
    rate = scored / seconds if seconds > 0 else float("nan")
    log.info("scored %d rows%s with %s %s in %d chunks, %.2fs (%.0f rows/s)",
             scored, part, uc.name, mv.version, n_chunks, seconds, rate)
    return {
        "scores_table": target,
        "rows": scored,
        "model_version": mv.version,
        "model_sha256": mv.artifact_sha256,
        "threshold": mv.threshold,
        "chunks": n_chunks,
        "seconds": round(seconds, 3),
        "rows_per_second": round(rate, 1),
        "shard": index,
        "shards": count,
    }
