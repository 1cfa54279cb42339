"""Entry points of the scoring stages, shared by the Airflow DAG and the command line.

Each takes plain identifiers (use case name, ISO date, run id, small dicts from earlier stages) and
returns a small JSON-able dict: exactly what XCom should carry. The data stays in Postgres.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

from pipeline.db import get_engine
from pipeline.usecase import UseCase, load_usecase

log = logging.getLogger(__name__)


class ScoreDateError(ValueError):
    """No usable score date for a run."""


def parse_date(value: str | dt.date, *, what: str = "score_date") -> dt.date:
    """An ISO date (YYYY-MM-DD) or a clear error naming the parameter."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise ScoreDateError(f"{what} must be a date in the form YYYY-MM-DD, got {value!r}") from None


def resolve_score_date(
    param: str | None, data_interval_end: dt.datetime | None, run_after: dt.datetime | None
) -> dt.date:
    """The date whose batch a run scores.

    A ``score_date`` param (manual trigger) wins. Otherwise the nightly run that fires in the evening of day
    D (the end of its data interval, or ``run_after`` for a manual run without a logical date) scores the
    schedule of day D + 1: tomorrow's flights.
    """
    if param:
        return parse_date(param)
    base = data_interval_end or run_after
    if base is None:
        raise ScoreDateError("no score_date param and no data interval or run_after to derive it from")
    return base.date() + dt.timedelta(days=1)


def resolve_cutoff_date(
    param: str | None, data_interval_end: dt.datetime | None, run_after: dt.datetime | None
) -> dt.date:
    """The cut-off of a retraining run: the ``cutoff_date`` param, else the run's own date."""
    if param:
        return parse_date(param, what="cutoff_date")
    base = data_interval_end or run_after
    if base is None:
        raise ScoreDateError("no cutoff_date param and no data interval or run_after to derive it from")
    return base.date()


def _context(usecase: str | None, score_date: str) -> tuple[Any, UseCase, dt.date]:
    return get_engine(), load_usecase(usecase), parse_date(score_date)


def extract(score_date: str, run_id: str, usecase: str | None = None) -> dict[str, Any]:
    """Stage 1: materialise the batch in a run-scoped staging table."""
    from pipeline.extract import extract_batch

    engine, uc, day = _context(usecase, score_date)
    started_at = dt.datetime.now(dt.UTC)
    result = extract_batch(engine, uc, day, run_id)
    return {**result, "score_date": day.isoformat(), "run_id": run_id, "use_case": uc.name,
            "usecase_ref": uc.ref, "started_at": started_at.isoformat()}


def validate(batch: dict[str, Any]) -> dict[str, Any]:
    """Stage 2: the fail-closed validation gate on the staged batch; raises when a critical check fails."""
    from pipeline.validate import validate_staged_batch

    engine, uc, day = _context(batch["usecase_ref"], batch["score_date"])
    return validate_staged_batch(engine, uc, day, batch["run_id"], rows=batch["rows"])


def build_features(batch: dict[str, Any], shards: int | None = None) -> dict[str, Any]:
    """Stage 3: derive the model inputs in Postgres, each row tagged with its shard when the run has several
    (``shards``, default: :func:`pipeline.shards.shard_count`, read now). The result's ``shards`` is the plan."""
    from pipeline.features import build_features as build
    from pipeline.shards import check_count, shard_count

    engine, uc, day = _context(batch["usecase_ref"], batch["score_date"])
    count = shard_count(uc) if shards is None else check_count(shards, source="shards")
    return build(engine, uc, day, batch["run_id"], shards=count)


def measure_drift(batch: dict[str, Any]) -> dict[str, Any]:
    """Stage 3b: compare the run's features with the champion's training reference (``drift_metrics``)."""
    from pipeline.drift import measure_feature_drift
    from pipeline.monitor import ensure_reference
    from pipeline.registry import get_champion
    from pipeline.staging import staging_tables

    engine, uc, day = _context(batch["usecase_ref"], batch["score_date"])
    mv = get_champion(engine, uc.name)
    features = staging_tables(uc.name, day, batch["run_id"]).features
    ensure_reference(engine, uc, mv.version)
    summary = measure_feature_drift(engine, uc, day, batch["run_id"], features, mv.version, batch["rows"])
    return {**summary, "model_version": mv.version}


def shard_plan(features: dict[str, Any]) -> list[dict[str, int]]:
    """Stage 3b: the shards the ``score`` tasks are mapped over, as fixed by build_features for this run."""
    return list(features.get("shards") or [{"index": 0, "count": 1}])


def score(batch: dict[str, Any], shard: dict[str, int] | None = None) -> dict[str, Any]:
    """Stage 4: stream the features (of one ``shard`` from :func:`shard_plan`, default: all) through the
    champion model into the run's (shard's) scores table."""
    from pipeline.score import score_features

    engine, uc, day = _context(batch["usecase_ref"], batch["score_date"])
    return score_features(engine, uc, day, batch["run_id"], shard=shard)


def shadow_score(batch: dict[str, Any]) -> dict[str, Any]:
    """Stage 4b: score the challenger in trial (if any) into the run's shadow table; never into predictions."""
    from pipeline.registry import shadow_version
    from pipeline.score import score_features

    engine, uc, day = _context(batch["usecase_ref"], batch["score_date"])
    mv = shadow_version(engine, uc.name, uc.retraining.shadow)
    if mv is None:
        return {"model_version": None, "seconds": 0.0}
    return score_features(engine, uc, day, batch["run_id"], model_version=mv, into="shadow", show_progress=False)


def publish(batch: dict[str, Any], validation: dict[str, Any], features: dict[str, Any],
            scores: dict[str, Any] | list[dict[str, Any]], shadow: dict[str, Any] | None = None) -> dict[str, Any]:
    """Stage 5: replace the date's predictions (and shadow scores) atomically and write the ledger row.

    ``scores``: the score result, or the results of all shards (published together, in one transaction)."""
    from pipeline.publish import publish_predictions
    from pipeline.shards import combine

    scores = combine(scores)
    planned = len(shard_plan(features))
    if scores["shards"] != planned:
        from pipeline.shards import ShardError

        raise ShardError(f"build_features planned {planned} shard(s) but scores came from {scores['shards']}; "
                         "nothing published")
    engine, uc, day = _context(batch["usecase_ref"], batch["score_date"])
    timings = {"extract": batch["seconds"], "validate": validation["seconds"],
               "build_features": features["seconds"], "score": scores["seconds"]}
    if shadow and shadow.get("model_version"):
        timings["shadow_score"] = shadow["seconds"]
    return publish_predictions(
        engine, uc, day, batch["run_id"], rows_in=batch["rows"], model_version=scores["model_version"],
        model_sha256=scores["model_sha256"],
        validation_status=validation["status"], timings=timings,
        started_at=dt.datetime.fromisoformat(batch["started_at"]),
        shadow_version=(shadow or {}).get("model_version"), shadow_threshold=(shadow or {}).get("threshold"),
        shards=scores["shards"],
    )


def monitor(batch: dict[str, Any]) -> dict[str, Any]:
    """Stage 6: after publishing, the score's drift, performance of past dates with new labels, alerts once
    per breach, and the BI views."""
    from pipeline.monitor import monitor_date

    engine, uc, day = _context(batch["usecase_ref"], batch["score_date"])
    return monitor_date(engine, uc, day)


def refresh_report(batch: dict[str, Any]) -> dict[str, Any]:
    """Stage 7: rewrite the use case's HTML report (the last 30 published dates up to the score date)."""
    from pipeline.report import write_report

    engine, uc, day = _context(batch["usecase_ref"], batch["score_date"])
    path = write_report(engine, uc, date_to=day)
    log.info("report for %s written to %s", uc.name, path)
    return {"path": str(path)}


def record_failure(score_date: str, run_id: str, reason: str, usecase: str | None = None) -> None:
    """Ledger row ``failed`` for a run that broke before publishing (validation rejections record their own)."""
    from pipeline.publish import record_unpublished_run

    engine, uc, day = _context(usecase, score_date)
    record_unpublished_run(engine, uc, day, run_id, status="failed", reason=reason)


def run_all(score_date: str, run_id: str, usecase: str | None = None, *,
            shards: int | None = None) -> dict[str, Any]:
    """Every stage in order, in this process (``batchscore score``): the DAG without Airflow (no report). With
    several shards they are scored one after another here (the DAG runs them on parallel workers)."""
    from pipeline.validate import ValidationFailed

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
    first = scores[0]
    return {"score_date": batch["score_date"], "rows": published["rows"], "model_version": first["model_version"],
            "shards": len(scores), "rows_per_second": round(sum(s["rows_per_second"] for s in scores), 1),
            "drifted_features": drift["drifted"], "new_alerts": monitored["alerts_total"],
            "seconds": round(time.perf_counter() - started, 2)}
