"""The tasks of a scoring DAG (``<name>__score``), and the same night without Airflow (:func:`run_night`,
``batchscore score``)."""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import cast

from pipeline.contracts import (
    Batch,
    Drift,
    Features,
    Monitored,
    NightSummary,
    NoShadow,
    Published,
    Report,
    Scores,
    Shard,
    Validation,
)
from pipeline.scoring.dates import check_in_window
from pipeline.tasks.check import check_usecase
from pipeline.tasks.common import dated

log = logging.getLogger(__name__)


# --- <name>__score ---------------------------------------------------------------------------------------------


def extract(score_date: str, run_id: str, usecase: str | None = None) -> Batch:
    """The batch of the date into a run-scoped staging table (:mod:`pipeline.scoring.extract`)."""
    from pipeline.scoring.extract import extract_batch

    check_usecase(usecase, at_run=True)  # the declaration first: every problem at once, before any work
    engine, uc, day = dated(usecase, score_date)
    check_in_window(uc, day)
    return extract_batch(engine, uc, day, run_id)


def validate(batch: Batch) -> Validation:
    """The fail-closed gate on the staged batch (:mod:`pipeline.scoring.validate`); raises on a critical failure."""
    from pipeline.scoring.validate import validate_batch

    engine, uc, day = dated(batch["usecase_ref"], batch["score_date"])
    return validate_batch(engine, uc, day, batch["run_id"], batch["rows"])


def build_features(batch: Batch, shards: int | None = None) -> Features:
    """The model inputs, in Postgres, each row tagged with its shard when the run has several (``shards``, else
    ``BATCHSCORE_SHARDS``, else ``[scoring] shards``). The result's ``shards`` is the plan."""
    from pipeline.scoring.features import build_features as build
    from pipeline.scoring.shards import check_count, shard_count

    engine, uc, day = dated(batch["usecase_ref"], batch["score_date"])
    count = shard_count(uc) if shards is None else check_count(shards, source="shards")
    return build(engine, uc, day, batch["run_id"], shards=count)


def measure_drift(batch: Batch) -> Drift:
    """The run's features against the champion's training reference (:mod:`pipeline.monitoring.drift_store`)."""
    from pipeline.db.staging import staging_tables
    from pipeline.model.reference import ensure_reference
    from pipeline.model.registry import get_champion
    from pipeline.monitoring.drift_store import measure_feature_drift

    engine, uc, day = dated(batch["usecase_ref"], batch["score_date"])
    mv = get_champion(engine, uc.name)
    features = staging_tables(uc.name, day, batch["run_id"]).features
    ensure_reference(engine, uc, mv.version)
    summary = measure_feature_drift(engine, uc, day, batch["run_id"], features, mv.version, batch["rows"])
    return {**summary, "model_version": mv.version}


def shard_plan(features: Features) -> list[Shard]:
    """The shards the ``score`` tasks are mapped over, as fixed by build_features for this run."""
    return list(features.get("shards") or [Shard(index=0, count=1)])


def score(batch: Batch, shard: Shard | None = None) -> Scores:
    """The features (of one ``shard``, default: all) through the champion (:mod:`pipeline.scoring.score`)."""
    from pipeline.scoring.score import score_features

    engine, uc, day = dated(batch["usecase_ref"], batch["score_date"])
    return score_features(engine, uc, day, batch["run_id"], shard=shard)


def shadow_score(batch: Batch) -> Scores | NoShadow:
    """The challenger in trial (if any) into the run's shadow table; never into the predictions."""
    from pipeline.model.registry import shadow_version
    from pipeline.scoring.score import score_features

    engine, uc, day = dated(batch["usecase_ref"], batch["score_date"])
    mv = shadow_version(engine, uc.name, uc.shadow.challenger)
    if mv is None:
        return NoShadow(model_version=None, seconds=0.0)
    return score_features(engine, uc, day, batch["run_id"], model_version=mv, into="shadow", show_progress=False)


def publish(
    batch: Batch,
    validation: Validation,
    features: Features,
    scores: Scores | list[Scores],
    shadow: Scores | NoShadow | None = None,
) -> Published:
    """Replace the date's predictions (and shadow scores) atomically with its ledger row
    (:mod:`pipeline.scoring.publish`). ``scores``: one result, or every shard's (published together)."""
    from pipeline.scoring.publish import publish_predictions
    from pipeline.scoring.shards import ShardError, combine

    combined = combine(scores)
    planned = len(shard_plan(features))
    if combined["shards"] != planned:
        raise ShardError(
            f"build_features planned {planned} shard(s) but scores came from {combined['shards']}; nothing published"
        )
    engine, uc, day = dated(batch["usecase_ref"], batch["score_date"])
    timings = {
        "extract": batch["seconds"],
        "validate": validation["seconds"],
        "build_features": features["seconds"],
        "score": combined["seconds"],
    }
    trial = cast(Scores, shadow) if shadow and shadow.get("model_version") else None
    if trial:
        timings["shadow_score"] = trial["seconds"]
    return publish_predictions(
        engine,
        uc,
        day,
        batch["run_id"],
        rows_in=batch["rows"],
        model_version=combined["model_version"],
        model_sha256=combined["model_sha256"],
        validation_status=validation["status"],
        timings=timings,
        started_at=dt.datetime.fromisoformat(batch["started_at"]),
        shadow_version=trial["model_version"] if trial else None,
        shards=combined["shards"],
    )


def monitor(batch: Batch) -> Monitored:
    """After publishing: score drift, performance with new labels, alerts, BI views
    (:mod:`pipeline.monitoring.monitor`)."""
    from pipeline.monitoring.monitor import monitor_date

    engine, uc, day = dated(batch["usecase_ref"], batch["score_date"])
    return monitor_date(engine, uc, day)


def refresh_report(batch: Batch) -> Report:
    """Rewrite the use case's HTML report up to the score date (:mod:`pipeline.monitoring.report.render`)."""
    from pipeline.monitoring.report.render import write_report

    engine, uc, day = dated(batch["usecase_ref"], batch["score_date"])
    path = write_report(engine, uc, date_to=day)
    log.info("report for %s written to %s", uc.name, path)
    return Report(path=str(path))


def record_failure(score_date: str, run_id: str, reason: str, usecase: str | None = None) -> None:
    """Ledger row ``failed`` for a run that broke before publishing (validation rejections record their own)."""
    from pipeline.db.ledger import FAILED, record_unpublished_run

    engine, uc, day = dated(usecase, score_date)
    record_unpublished_run(engine, uc, day, run_id, status=FAILED, reason=reason)


def drop_run_staging(score_date: str, run_id: str, usecase: str | None = None) -> list[str]:
    """Drop the staging tables of a run that failed for good (nothing will read them again)."""
    from pipeline.db.staging import drop_staging, staging_tables

    engine, uc, day = dated(usecase, score_date)
    tables = staging_tables(uc.name, day, run_id)
    drop_staging(engine, tables)
    return [tables.key]


def run_night(score_date: str, run_id: str, usecase: str | None = None, *, shards: int | None = None) -> NightSummary:
    """Every step of a scoring DAG in order, in this process (``batchscore score``; no report). With several shards
    they are scored one after another here (the DAG runs them on parallel workers)."""
    from pipeline.validation.checks import ValidationFailed

    started = time.perf_counter()
    try:
        batch = extract(score_date, run_id, usecase)
        validation = validate(batch)
        features = build_features(batch, shards)
        drift = measure_drift(batch)
        scores = [score(batch, shard) for shard in shard_plan(features)]
        shadow = shadow_score(batch)
        published = publish(batch, validation, features, scores, shadow)
        monitored = monitor(batch)
    except ValidationFailed:
        raise
    except Exception as exc:
        record_failure(score_date, run_id, f"{type(exc).__name__}: {exc}", usecase)
        drop_run_staging(score_date, run_id, usecase)
        raise
    return NightSummary(
        score_date=batch["score_date"],
        rows=published["rows"],
        model_version=scores[0]["model_version"],
        shards=len(scores),
        rows_per_second=round(sum(s["rows_per_second"] for s in scores), 1),
        drifted_features=drift["drifted"],
        new_alerts=monitored["alerts_total"],
        seconds=round(time.perf_counter() - started, 2),
    )
