"""The entry point of every DAG task, and of the same steps run without Airflow (``batchscore score``,
``batchscore retrain``, ``batchscore model rollback``).

Each function takes identifiers (a use case reference, an ISO date, a run id, the small typed dicts earlier steps
returned) and returns a small typed dict (:mod:`pipeline.contracts`): exactly what XCom should carry. Each loads
the engine and the use case, then calls the one module that does the step, so a DAG task is one hop from its
behaviour. Nothing here imports Airflow at import time: :func:`dag_defaults` and :func:`monitor_notifier` import
the Airflow side (:mod:`pipeline.orchestration.callbacks`) when a DAG file asks for them.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from typing import Any, cast

from sqlalchemy.engine import Engine

from pipeline.config.loading import load_usecase
from pipeline.config.usecase import UseCase
from pipeline.contracts import (
    Batch,
    Challenger,
    Drift,
    Evaluation,
    Features,
    Monitored,
    NightSummary,
    NoShadow,
    PromotionDecision,
    PromotionOutcome,
    Published,
    Report,
    RollbackOutcome,
    Scores,
    Shard,
    TrainingSet,
    Validation,
)
from pipeline.db.engine import get_engine
from pipeline.scoring.dates import parse_date, resolve_cutoff_date, resolve_score_date

log = logging.getLogger(__name__)


def score_date_for(param: str | None, data_interval_end: dt.datetime | None, run_after: dt.datetime | None) -> str:
    """The date a score_daily run scores (:func:`pipeline.scoring.dates.resolve_score_date`), as YYYY-MM-DD."""
    return resolve_score_date(param, data_interval_end, run_after).isoformat()


def cutoff_for(param: str | None, data_interval_end: dt.datetime | None, run_after: dt.datetime | None) -> str:
    """The cut-off of a retrain_weekly run (:func:`pipeline.scoring.dates.resolve_cutoff_date`), as YYYY-MM-DD."""
    return resolve_cutoff_date(param, data_interval_end, run_after).isoformat()


def _context(usecase: str | None, day: str | None = None) -> tuple[Engine, UseCase, dt.date | None]:
    return get_engine(), load_usecase(usecase), parse_date(day) if day is not None else None


def _dated(usecase: str | None, day: str) -> tuple[Engine, UseCase, dt.date]:
    engine, uc, parsed = _context(usecase, day)
    assert parsed is not None
    return engine, uc, parsed


# --- Airflow wiring (imported lazily: the DAG files call these at parse time) ------------------------------------


def dag_defaults(
    *, retries: int, retry_delay: dt.timedelta, max_retry_delay: dt.timedelta | None = None, record_ledger: bool = False
) -> dict[str, Any]:
    """``default_args`` for a batchscore DAG: the retries, a retry policy that fails at once on errors retrying
    cannot mend, and failure callbacks (an alert for every task that failed for good; with ``record_ledger``,
    a ``failed`` row in the scoring ledger too)."""
    from pipeline.orchestration.callbacks import AlertNotifier, BatchscoreRetryPolicy, record_task_failure

    callbacks: list[Any] = [record_task_failure] if record_ledger else []
    defaults: dict[str, Any] = {
        "retries": retries,
        "retry_delay": retry_delay,
        "retry_exponential_backoff": 2.0,
        "retry_policy": BatchscoreRetryPolicy(),
        "on_failure_callback": [*callbacks, AlertNotifier(on="failure")],
    }
    if max_retry_delay is not None:
        defaults["max_retry_delay"] = max_retry_delay
    return defaults


def monitor_notifier() -> Any:
    """The monitor task's ``on_success_callback``: deliver the breaches it recorded."""
    from pipeline.orchestration.callbacks import AlertNotifier

    return AlertNotifier(on="monitor")


# --- score_daily ------------------------------------------------------------------------------------------------


def extract(score_date: str, run_id: str, usecase: str | None = None) -> Batch:
    """The batch of the date into a run-scoped staging table (:mod:`pipeline.scoring.extract`)."""
    from pipeline.scoring.extract import extract_batch

    engine, uc, day = _dated(usecase, score_date)
    return extract_batch(engine, uc, day, run_id)


def validate(batch: Batch) -> Validation:
    """The fail-closed gate on the staged batch (:mod:`pipeline.scoring.validate`); raises on a critical failure."""
    from pipeline.scoring.validate import validate_batch

    engine, uc, day = _dated(batch["usecase_ref"], batch["score_date"])
    return validate_batch(engine, uc, day, batch["run_id"], batch["rows"])


def build_features(batch: Batch, shards: int | None = None) -> Features:
    """The model inputs, in Postgres, each row tagged with its shard when the run has several (``shards``, else
    ``BATCHSCORE_SHARDS``, else ``[scoring] shards``). The result's ``shards`` is the plan."""
    from pipeline.scoring.features import build_features as build
    from pipeline.scoring.shards import check_count, shard_count

    engine, uc, day = _dated(batch["usecase_ref"], batch["score_date"])
    count = shard_count(uc) if shards is None else check_count(shards, source="shards")
    return build(engine, uc, day, batch["run_id"], shards=count)


def measure_drift(batch: Batch) -> Drift:
    """The run's features against the champion's training reference (:mod:`pipeline.monitoring.drift_store`)."""
    from pipeline.db.staging import staging_tables
    from pipeline.model.reference import ensure_reference
    from pipeline.model.registry import get_champion
    from pipeline.monitoring.drift_store import measure_feature_drift

    engine, uc, day = _dated(batch["usecase_ref"], batch["score_date"])
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

    engine, uc, day = _dated(batch["usecase_ref"], batch["score_date"])
    return score_features(engine, uc, day, batch["run_id"], shard=shard)


def shadow_score(batch: Batch) -> Scores | NoShadow:
    """The challenger in trial (if any) into the run's shadow table; never into the predictions."""
    from pipeline.model.registry import shadow_version
    from pipeline.scoring.score import score_features

    engine, uc, day = _dated(batch["usecase_ref"], batch["score_date"])
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
    engine, uc, day = _dated(batch["usecase_ref"], batch["score_date"])
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
        shadow_threshold=trial["threshold"] if trial else None,
        shards=combined["shards"],
    )


def monitor(batch: Batch) -> Monitored:
    """After publishing: score drift, performance with new labels, alerts, BI views
    (:mod:`pipeline.monitoring.monitor`)."""
    from pipeline.monitoring.monitor import monitor_date

    engine, uc, day = _dated(batch["usecase_ref"], batch["score_date"])
    return monitor_date(engine, uc, day)


def refresh_report(batch: Batch) -> Report:
    """Rewrite the use case's HTML report up to the score date (:mod:`pipeline.monitoring.report.render`)."""
    from pipeline.monitoring.report.render import write_report

    engine, uc, day = _dated(batch["usecase_ref"], batch["score_date"])
    path = write_report(engine, uc, date_to=day)
    log.info("report for %s written to %s", uc.name, path)
    return Report(path=str(path))


def record_failure(score_date: str, run_id: str, reason: str, usecase: str | None = None) -> None:
    """Ledger row ``failed`` for a run that broke before publishing (validation rejections record their own)."""
    from pipeline.db.ledger import FAILED, record_unpublished_run

    engine, uc, day = _dated(usecase, score_date)
    record_unpublished_run(engine, uc, day, run_id, status=FAILED, reason=reason)


def run_night(score_date: str, run_id: str, usecase: str | None = None, *, shards: int | None = None) -> NightSummary:
    """Every score_daily step in order, in this process (``batchscore score``; no report). With several shards
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


# --- retrain_weekly ---------------------------------------------------------------------------------------------


def build_training_set(cutoff: str, run_id: str, usecase: str | None = None) -> TrainingSet:
    """The point-in-time training and holdout sets as of ``cutoff``, in staging (:mod:`pipeline.model.retrain`)."""
    from pipeline.model import retrain

    engine, uc, _ = _context(usecase)
    return retrain.build_training_set(engine, uc, parse_date(cutoff, what="cutoff_date"), run_id)


def validate_training_set(ts: TrainingSet) -> dict[str, str]:
    """The training suite on both sets, inside Postgres; raises ValidationFailed before any fit."""
    from pipeline.model import retrain

    engine, uc, _ = _context(ts["usecase_ref"])
    return retrain.validate_training_set(engine, uc, ts)


def train_challenger(ts: TrainingSet, created_by: str = "schedule") -> Challenger:
    """Fit, store and register the challenger as a candidate."""
    from pipeline.model import retrain

    engine, uc, _ = _context(ts["usecase_ref"])
    return retrain.train_challenger(engine, uc, ts, created_by)


def evaluate(ts: TrainingSet, challenger: Challenger) -> Evaluation:
    """Champion and challenger scored on the same holdout rows."""
    from pipeline.model import retrain

    engine, uc, _ = _context(ts["usecase_ref"])
    return retrain.evaluate(engine, uc, ts, challenger)


def decide(ts: TrainingSet, evaluation: Evaluation, force: bool = False) -> PromotionDecision:
    """The promotion rule applied to the evaluation (:mod:`pipeline.model.promotion`)."""
    from pipeline.model import retrain

    engine, uc, _ = _context(ts["usecase_ref"])
    return retrain.decide(engine, uc, ts, evaluation, force)


def promote(
    ts: TrainingSet,
    evaluation: Evaluation,
    decision: PromotionDecision,
    *,
    dry_run: bool = False,
    actor: str = "schedule",
) -> PromotionOutcome:
    """Apply the decision in one transaction (``dry_run``: record only)."""
    from pipeline.model import retrain

    engine, uc, _ = _context(ts["usecase_ref"])
    return retrain.promote(engine, uc, ts, evaluation, decision, dry_run=dry_run, actor=actor)


def report(ts: TrainingSet, challenger: Challenger, decision: PromotionDecision) -> str:
    """A readable account of the decision and its evidence; drops the run's staging tables."""
    from pipeline.model import retrain

    engine, uc, _ = _context(ts["usecase_ref"])
    return retrain.report(engine, uc, ts, challenger, decision)


def run_retrain(
    cutoff: str,
    run_id: str,
    *,
    dry_run: bool = False,
    force: bool = False,
    actor: str = "cli",
    usecase: str | None = None,
) -> str:
    """Every retrain_weekly step in this process (``batchscore retrain``)."""
    from pipeline.model.training_sets import TrainingSets

    ts = build_training_set(cutoff, run_id, usecase)
    try:
        validate_training_set(ts)
        challenger = train_challenger(ts, created_by=actor)
        evaluation = evaluate(ts, challenger)
        decision = decide(ts, evaluation, force)
        promote(ts, evaluation, decision, dry_run=dry_run, actor=actor)
        return report(ts, challenger, decision)
    finally:
        engine, uc, _ = _context(ts["usecase_ref"])
        TrainingSets(engine, uc, run_id).drop()


# --- model_rollback ---------------------------------------------------------------------------------------------


def rollback(
    to_version: str | None,
    *,
    reason: str | None = None,
    actor: str = "rollback",
    run_id: str = "",
    rescore_dates: list[str] | None = None,
    usecase: str | None = None,
) -> RollbackOutcome:
    """Restore a former champion (or ``to_version``), logged as a decision; then re-score ``rescore_dates``."""
    from pipeline.model import retrain

    engine, uc, _ = _context(usecase)
    run_id = run_id or f"rollback__{uuid.uuid4().hex[:8]}"
    outcome = retrain.rollback(engine, uc, to_version, reason=reason, actor=actor, run_id=run_id)
    rescored = [run_night(d, f"{run_id}__{d}", uc.ref)["score_date"] for d in (rescore_dates or [])]
    log.info("re-scored %s with %s", rescored or "nothing", outcome["champion"])
    return RollbackOutcome(champion=str(outcome["champion"]), previous=outcome["previous"], rescored=rescored)
