"""Monitor: what the nightly run does after publishing.

1. keep only the drift rows of the run that was published for the date, and add the drift of its scores;
2. join the labels that have become known since to past predictions and shadow scores (``model_performance``);
3. raise each new breach once (``alerts``): drift, degraded performance, validation warnings;
4. refresh the BI views and the BI role's grants.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy.engine import Engine

from pipeline.config.usecase import UseCase
from pipeline.contracts import Monitored
from pipeline.db.ledger import published_run
from pipeline.db.predictions import predictions_table
from pipeline.model.reference import ensure_reference
from pipeline.monitoring.alerts import (
    MAX_ALERTS_IN_XCOM,
    drift_alerts,
    performance_alerts,
    record_new_alerts,
    validation_warning_alerts,
)
from pipeline.monitoring.bi_views import ensure_bi_views
from pipeline.monitoring.drift_store import measure_score_drift, prune_unpublished_drift, run_metrics
from pipeline.monitoring.performance import update_performance
from pipeline.validation.gate import failed_warnings

log = logging.getLogger(__name__)


def monitor_date(engine: Engine, uc: UseCase, score_date: dt.date, *, as_of: dt.datetime | None = None) -> Monitored:
    """Drift of the published run, performance of the lookback window, new alerts, BI views (idempotent).

    Returns a small dict for XCom, including the new alerts (at most 50, with the total) for the notifier.
    """
    run = published_run(engine, uc, score_date)
    ensure_reference(engine, uc, run["model_version"])
    prune_unpublished_drift(engine, uc, score_date, run["run_id"])
    score_drift = measure_score_drift(
        engine, uc, score_date, run["run_id"], predictions_table(uc), run["model_version"]
    )
    performance = update_performance(engine, uc, score_date, as_of=as_of)
    drift_rows = run_metrics(engine, uc, score_date, run["run_id"])
    warnings = failed_warnings(engine, uc, run["run_id"])
    breaches = [
        *validation_warning_alerts(uc, score_date, warnings),
        *drift_alerts(uc, score_date, drift_rows),
        *performance_alerts(uc, performance),
    ]
    new = record_new_alerts(engine, breaches)
    views = ensure_bi_views(engine, uc)
    drifted = sorted({r["feature"] for r in drift_rows if r["status"] == "drift"})
    log.info(
        "%s %s: %d drift metrics (%d drifted: %s), performance updated for %d, %d new alert(s)",
        uc.name,
        score_date,
        len(drift_rows),
        len(drifted),
        ", ".join(drifted) or "none",
        len(performance),
        len(new),
    )
    return Monitored(
        score_date=score_date.isoformat(),
        run_id=run["run_id"],
        model_version=run["model_version"],
        drifted_features=drifted,
        score_psi=score_drift["max_psi"],
        performance_updated=len(performance),
        alerts_total=len(new),
        new_alerts=[a.as_dict() for a in new[:MAX_ALERTS_IN_XCOM]],
        views=views,
    )
