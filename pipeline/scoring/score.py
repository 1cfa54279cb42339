"""Score: the run's features (one shard of them) through the champion, or a challenger in trial, into the run's
staged predictions. The predictions table itself is only touched by publish.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from contextlib import closing, suppress

from sqlalchemy.engine import Engine

from pipeline.config.settings import load_settings
from pipeline.config.usecase import UseCase
from pipeline.contracts import Scores, Shard
from pipeline.db.predictions import create_staged_predictions
from pipeline.db.schema import STAGING_SCHEMA, staging
from pipeline.db.staging import count_rows, staging_tables
from pipeline.model.artifacts import load_artifact
from pipeline.model.predict import ScoringError, check_trained_features
from pipeline.model.registry import ModelVersion, get_champion
from pipeline.scoring.shards import SHARD_COLUMN, ShardError, check_shard
from pipeline.scoring.stream import adbc_uri, arrow_select, predict_threads, stream_scores

log = logging.getLogger(__name__)


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
    shard: Shard | None = None,
) -> Scores:
    """Score the run's features table with the champion (or ``model_version``) into its scores table
    (``into="shadow"``: the shadow scores table).

    ``shard`` (``{"index": i, "count": N}`` from :func:`pipeline.scoring.shards.plan`) scores only the rows of shard i
    into that shard's own scores table; several shards can run at once, in different processes.
    Idempotent per run and shard: the target table is recreated on every attempt. Returns a small dict for XCom.
    """
    from tqdm import tqdm

    started = time.perf_counter()
    index, count = check_shard(shard)
    if count > 1 and into != "scores":
        raise ShardError("only the champion's scores are sharded; shadow scoring runs on the whole batch")
    mv = model_version or get_champion(engine, uc.name)
    check_trained_features(mv.features, uc, f"model {mv.version} ({mv.status})")
    model = load_artifact(mv)
    tables = staging_tables(uc.name, score_date, run_id)
    target_name = tables.shard_scores_name(index, count) if into == "scores" else tables.names[into]
    target = staging(target_name)
    where = f" where {SHARD_COLUMN} = {index}" if count > 1 else ""  # two validated ints
    expected = count_rows(engine, tables.features, where)
    chunk_rows = chunk_rows or load_settings().chunk_rows

    with engine.begin() as conn:  # the date's partition to be (or the shadow scores), published as it is
        create_staged_predictions(
            conn, uc, target, score_date, run_id=run_id, model_version=mv.version, threshold=mv.threshold
        )
    import adbc_driver_postgresql.dbapi as adbc
    from threadpoolctl import threadpool_limits

    uri = adbc_uri(engine)
    with closing(adbc.connect(uri)) as reader, closing(adbc.connect(uri)) as writer:
        try:
            with (
                tqdm(
                    total=expected,
                    unit="rows",
                    desc=f"score {score_date}",
                    disable=show_progress is False if show_progress is not None else None,
                    leave=False,
                ) as progress,
                threadpool_limits(limits=predict_threads(), user_api="openmp"),
            ):
                scored, n_chunks = stream_scores(
                    reader,
                    writer,
                    arrow_select(tables.features, uc, where),
                    (STAGING_SCHEMA, target_name),
                    model,
                    uc,
                    mv.threshold,
                    chunk_rows,
                    progress,
                )
            writer.commit()
        except BaseException:
            with suppress(Exception):
                writer.rollback()
            raise
        finally:
            with suppress(Exception):
                reader.rollback()
    part = f" (shard {index}/{count})" if count > 1 else ""
    if scored != expected:
        raise ScoringError(f"{uc.name} {score_date}{part}: scored {scored} rows but the batch has {expected}")
    seconds = time.perf_counter() - started
    rate = scored / seconds if seconds > 0 else float("nan")
    log.info(
        "scored %d rows%s with %s %s in %d chunks, %.2fs (%.0f rows/s)",
        scored,
        part,
        uc.name,
        mv.version,
        n_chunks,
        seconds,
        rate,
    )
    return Scores(
        scores_table=target,
        rows=scored,
        model_version=mv.version,
        model_sha256=mv.artifact_sha256,
        threshold=mv.threshold,
        chunks=n_chunks,
        seconds=round(seconds, 3),
        rows_per_second=round(rate, 1),
        shard=index,
        shards=count,
    )
