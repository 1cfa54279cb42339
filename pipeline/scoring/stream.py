"""The Arrow stream between PostgreSQL and the model: COPY binary out, predict chunk by chunk, COPY binary in.

ADBC decodes and encodes the COPY streams into Arrow in C, so no row is parsed or formatted in Python; reading,
predicting and writing overlap on three threads with bounded queues. The batch never sits in one DataFrame,
never goes through CSV text or ``to_sql``.
"""

from __future__ import annotations

import os
import queue
import threading
from contextlib import closing
from typing import Any

import numpy as np
import pyarrow as pa
from sqlalchemy.engine import Engine

from pipeline.config.settings import load_settings
from pipeline.config.usecase import UseCase
from pipeline.model.predict import predict_output

#: what score writes back per task kind: the columns of pipeline.db.predictions.STREAMED_COLUMNS, typed
SCORES_SCHEMAS = {
    "binary": pa.schema([("entity_id", pa.string()), ("score", pa.float64()), ("predicted_label", pa.bool_())]),
    "multiclass": pa.schema(
        [
            ("entity_id", pa.string()),
            ("score", pa.float64()),
            ("predicted_class", pa.string()),
            ("class_probabilities", pa.list_(pa.float64())),
        ]
    ),
    "regression": pa.schema(
        [
            ("entity_id", pa.string()),
            ("score", pa.float64()),
            ("prediction_lower", pa.float64()),
            ("prediction_upper", pa.float64()),
        ]
    ),
}


def predict_arrow(model: Any, table: pa.Table, uc: UseCase, threshold: float | None) -> pa.RecordBatch:
    """The predictions of one Arrow chunk, as the Arrow batch that is written back (pure), shaped for the use
    case's task kind (:data:`SCORES_SCHEMAS`).

    Only the model's columns become pandas (categoricals as pandas categoricals, expanded to strings one
    chunk at a time by :func:`model_frame`); the entity ids stay Arrow and go straight back out.
    """
    frame = table.drop_columns(["entity_id"]).to_pandas(strings_to_categorical=True, self_destruct=False)
    out = predict_output(model, frame, uc, threshold)
    ids = table.column("entity_id").combine_chunks()
    if ids.type != pa.string():
        ids = ids.cast(pa.string())
    columns: list[Any] = [ids, pa.array(out.score, pa.float64())]
    if out.kind == "binary":
        columns.append(pa.array(out.predicted_label))
    elif out.kind == "multiclass":
        assert out.class_probabilities is not None
        k = out.class_probabilities.shape[1]
        columns.append(pa.array(out.predicted_class, pa.string()))
        columns.append(
            pa.ListArray.from_arrays(
                pa.array(np.arange(0, (len(out.score) + 1) * k, k, dtype=np.int32)),
                pa.array(out.class_probabilities.reshape(-1), pa.float64()),
            )
        )
    else:
        none = pa.nulls(len(out.score), pa.float64())
        columns.append(none if out.lower is None else pa.array(out.lower, pa.float64()))
        columns.append(none if out.upper is None else pa.array(out.upper, pa.float64()))
    return pa.RecordBatch.from_arrays(columns, schema=SCORES_SCHEMAS[out.kind])


def predict_threads() -> int:
    """OpenMP threads for ``predict_proba``: ``BATCHSCORE_PREDICT_THREADS``, else every core the process may use;
    ``OMP_NUM_THREADS``, when set (one worker per core), caps it. Measured on 2 cores (1M rows, W1): on a quiet
    machine score took 5.0-5.5 s with two threads vs 5.8-6.1 s with one; on a machine shared with other busy
    processes one thread was faster (17-23 s vs 24-34 s: two threads spin against the COPY work), so a worker
    that shares its cores should set it to 1."""
    threads = load_settings().predict_threads
    if threads is None:
        threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    cap = os.environ.get("OMP_NUM_THREADS", "").strip()
    if cap.isdigit() and int(cap) > 0:
        threads = min(threads, int(cap))
    return threads


def arrow_select(table: str, uc: UseCase, where: str = "") -> str:
    """The SELECT that streams a features table out, typed for Arrow: ids and categoricals as text, every
    numeric as double precision (so no numeric-as-string or integer surprises reach the model)."""
    columns = ['cast("entity_id" as text) as "entity_id"']
    columns += [f'cast("{c}" as text) as "{c}"' for c in uc.features.categorical]
    columns += [f'cast("{c}" as double precision) as "{c}"' for c in uc.features.numeric]
    return f"select {', '.join(columns)} from {table}{where}"  # noqa: S608  (validated names, our own clause)


def adbc_uri(engine: Engine) -> str:
    """A libpq URI for ADBC from the engine's URL (never logged: it may hold a password)."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


_DONE = object()  # end of a queue


class _Aborted(Exception):
    """Raised inside the writer's batch source to stop ingesting when the scoring side failed."""


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


def rechunk(batches: Any, chunk_rows: int) -> Any:
    """Arrow record batches (any sizes) -> tables of exactly ``chunk_rows`` rows (the last one shorter)."""
    pending: list[pa.RecordBatch] = []
    held = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        pending.append(batch)
        held += batch.num_rows
        while held >= chunk_rows:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, chunk_rows)
            rest = table.slice(chunk_rows)
            pending, held = rest.to_batches(), rest.num_rows
    if held:
        yield pa.Table.from_batches(pending)


def stream_scores(
    reader: Any,
    writer: Any,
    select_sql: str,
    target: tuple[str, str],
    model: Any,
    uc: UseCase,
    threshold: float | None,
    chunk_rows: int,
    progress: Any,
) -> tuple[int, int]:
    """Arrow batches out (reader thread), predict chunk by chunk (this thread), Arrow batches in (writer thread).

    ``reader`` and ``writer`` are ADBC connections: both directions are PostgreSQL COPY in binary format,
    decoded into / encoded from Arrow in C, so no row is ever parsed or formatted in Python. The database
    produces and consumes the COPY data in its own processes, so the three overlap. Queues hold at most two
    chunks each. ``target`` is (schema, table) of an existing table. Returns (rows scored, chunks); any failure
    stops the other two and is raised here.
    """
    chunks: queue.Queue = queue.Queue(maxsize=2)
    outputs: queue.Queue = queue.Queue(maxsize=2)
    stop = threading.Event()
    errors: list[BaseException] = []

    def read() -> None:
        try:
            with closing(reader.cursor()) as cur:
                cur.execute(select_sql)
                for table in rechunk(cur.fetch_record_batch(), chunk_rows):
                    if stop.is_set():
                        return
                    _put(chunks, table, stop)
        finally:
            _put(chunks, _DONE, stop)

    def source() -> Any:
        while True:
            try:
                item = outputs.get(timeout=0.5)
            except queue.Empty:
                if stop.is_set():
                    raise _Aborted from None
                continue
            if item is _DONE:
                return
            if stop.is_set():
                raise _Aborted
            yield item

    def write() -> None:
        with closing(writer.cursor()) as cur:
            try:
                cur.adbc_ingest(
                    target[1],
                    pa.RecordBatchReader.from_batches(SCORES_SCHEMAS[uc.target.kind], source()),
                    mode="append",
                    db_schema_name=target[0],
                )
            except BaseException:
                if stop.is_set():
                    raise _Aborted from None  # the scorer's own error is the one to report
                raise

    reading = _in_thread("arrow-out", read, errors)
    writing = _in_thread("arrow-in", write, errors)
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
            scores = predict_arrow(model, item, uc, threshold)
            _put(outputs, scores, stop)
            scored += scores.num_rows
            n_chunks += 1
            progress.update(scores.num_rows)
            if errors:
                break
    except BaseException:
        stop.set()
        raise
    finally:
        if errors:
            stop.set()
        if not stop.is_set():
            _put(outputs, _DONE, stop)
        reading.join()
        writing.join()
    if errors:
        raise errors[0]
    return scored, n_chunks
