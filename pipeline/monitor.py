"""Monitor: what the nightly run does after publishing.

1. keep only the drift rows of the run that was published for the date, and add the drift of its scores;
2. join the labels that have become known since to past predictions and shadow scores (``model_performance``);
3. raise each new breach once (``alerts``): drift, degraded performance, validation warnings;
4. refresh the BI views and the BI role's grants.

Also here: building the drift reference of a model version registered before monitoring existed.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pipeline.alerts import (
    MAX_ALERTS_IN_XCOM,
    drift_alerts,
    performance_alerts,
    record_new_alerts,
    validation_warning_alerts,
)
from pipeline.drift import measure_score_drift
from pipeline.performance import update_performance
from pipeline.publish import predictions_table
from pipeline.usecase import UseCase
from pipeline.views import ensure_bi_views

log = logging.getLogger(__name__)


class MonitorError(RuntimeError):
    """Nothing to monitor: the date has no published run."""


def published_run(engine: Engine, uc: UseCase, score_date: dt.date) -> dict[str, Any]:
    """The ledger row of the run whose predictions are published for the date (the latest that succeeded)."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("select run_id, model_version from batchscore.scoring_runs "
                    "where use_case = :u and score_date = :d and status = 'succeeded' "
                    "order by finished_at desc, id desc limit 1"),
            {"u": uc.name, "d": score_date},
        ).one_or_none()
    if row is None:
        raise MonitorError(f"{uc.name} {score_date}: no published run to monitor (score the date first)")
    return {"run_id": row.run_id, "model_version": row.model_version}


def prune_unpublished_drift(engine: Engine, uc: UseCase, score_date: dt.date, run_id: str) -> int:
    """Delete the date's drift rows of runs other than the published one (attempts that never published)."""
    with engine.begin() as conn:
        return conn.execute(
            sa.text("delete from batchscore.drift_metrics where use_case = :u and score_date = :d and run_id <> :r"),
            {"u": uc.name, "d": score_date, "r": run_id},
        ).rowcount


def _rows(engine: Engine, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.text(sql), params)]


def monitor_date(engine: Engine, uc: UseCase, score_date: dt.date, *, as_of: dt.datetime | None = None
                 ) -> dict[str, Any]:
    """Drift of the published run, performance of the lookback window, new alerts, BI views (idempotent).

    Returns a small dict for XCom, including the new alerts (at most 50, with the total) for the notifier.
    """
    run = published_run(engine, uc, score_date)
    ensure_reference(engine, uc, run["model_version"])
    prune_unpublished_drift(engine, uc, score_date, run["run_id"])
    score_drift = measure_score_drift(engine, uc, score_date, run["run_id"], predictions_table(uc),
                                      run["model_version"])
    performance = update_performance(engine, uc, score_date, as_of=as_of)
    drift_rows = _rows(engine, "select * from batchscore.drift_metrics where use_case = :u and score_date = :d "
                               "and run_id = :r order by feature, metric", {"u": uc.name, "d": score_date,
                                                                            "r": run["run_id"]})
    warnings = _rows(engine, "select expectation, column_name, unexpected_count from batchscore.validation_results "
                             "where run_id = :r and use_case = :u and severity = 'warning' and not success "
                             "order by id", {"u": uc.name, "r": run["run_id"]})
    breaches = [*validation_warning_alerts(uc, score_date, warnings), *drift_alerts(uc, score_date, drift_rows),
                *performance_alerts(uc, performance)]
    new = record_new_alerts(engine, breaches)
    views = ensure_bi_views(engine, uc)
    drifted = sorted({r["feature"] for r in drift_rows if r["status"] == "drift"})
    log.info("%s %s: %d drift metrics (%d drifted: %s), performance updated for %d, %d new alert(s)",
             uc.name, score_date, len(drift_rows), len(drifted), ", ".join(drifted) or "none", len(performance),
             len(new))
    return {
        "score_date": score_date.isoformat(),
        "run_id": run["run_id"],
        "model_version": run["model_version"],
        "drifted_features": drifted,
        "score_psi": score_drift["max_psi"],
        "performance_updated": len(performance),
        "alerts_total": len(new),
        "new_alerts": [a.as_dict() for a in new[:MAX_ALERTS_IN_XCOM]],
        "views": views,
    }


def ensure_reference(engine: Engine, uc: UseCase, version: str) -> None:
    """Build the version's drift reference when it has none (versions registered before monitoring existed)."""
    from pipeline.drift import MissingReferenceError, load_reference

    try:
        load_reference(engine, uc, version)
    except MissingReferenceError:
        log.warning("%s %s has no drift reference yet; building it from its training windows", uc.name, version)
        build_missing_reference(engine, uc, version)


def build_missing_reference(engine: Engine, uc: UseCase, version: str) -> dict[str, Any]:
    """Build and store the drift reference of a version registered without one, from its own recorded
    training and holdout windows and label cut-off (the same point-in-time sets it was trained on)."""
    import numpy as np

    from pipeline.drift import build_reference, reference_json
    from pipeline.features import model_frame
    from pipeline.registry import get_version, load_artifact
    from pipeline.staging import training_tables
    from pipeline.train import label_cutoff, load_staged, materialise_training_table

    mv = get_version(engine, uc.name, version)
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("select train_from, train_to, holdout_from, holdout_to, labels_known_at "
                    "from batchscore.model_versions where use_case = :u and version = :v"),
            {"u": uc.name, "v": version},
        ).one()
    known_at = row.labels_known_at or label_cutoff(row.holdout_to)
    tables = training_tables(uc.name, f"reference__{version}")
    frames = {}
    try:
        for kind, (date_from, date_to) in {"training": (row.train_from, row.train_to),
                                           "holdout": (row.holdout_from, row.holdout_to)}.items():
            quoted = tables[kind][0]
            materialise_training_table(engine, uc, quoted, date_from, date_to, known_at)
            frames[kind] = load_staged(engine, quoted)
    finally:
        with engine.begin() as conn:
            for quoted, _ in tables.values():
                conn.execute(sa.text(f"drop table if exists {quoted}"))
    model = load_artifact(mv)
    scores = np.asarray(model.predict_proba(model_frame(frames["holdout"], uc))[:, 1])
    reference = build_reference(model_frame(frames["training"], uc), scores, uc)
    with engine.begin() as conn:
        conn.execute(
            sa.text("update batchscore.model_versions set drift_reference = cast(:r as jsonb) "
                    "where use_case = :u and version = :v"),
            {"r": reference_json(reference), "u": uc.name, "v": version},
        )
    log.info("built the drift reference of %s %s from %d training and %d holdout rows", uc.name, version,
             len(frames["training"]), len(frames["holdout"]))
    return {"version": version, "training_rows": len(frames["training"]), "holdout_rows": len(frames["holdout"]),
            "reference_bytes": len(json.dumps(reference))}
