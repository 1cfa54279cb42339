"""Alerts: every breach (a failed run, a validation warning, a drifted metric, a degraded performance) is
recorded once in ``batchscore.alerts`` (this module is its only writer), so it is delivered once, through the
channels of :mod:`.channels`.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pipeline.config.usecase import UseCase
from pipeline.db.sql import load_sql
from pipeline.monitoring.formatting import figure

MAX_ALERTS_IN_XCOM = 50


@dataclass(frozen=True)
class Alert:
    """One breach. ``key`` identifies it within its kind, so that it is raised once."""

    use_case: str
    kind: str
    key: str
    message: str
    score_date: str | None = None
    model_version: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "use_case": self.use_case,
            "kind": self.kind,
            "key": self.key,
            "message": self.message,
            "score_date": self.score_date,
            "model_version": self.model_version,
            "details": self.details,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Alert:
        return cls(
            str(raw["use_case"]),
            str(raw["kind"]),
            str(raw["key"]),
            str(raw["message"]),
            raw.get("score_date"),
            raw.get("model_version"),
            raw.get("details") or {},
        )


# --- breaches (pure) -----------------------------------------------------------------------------------------


def drift_alerts(uc: UseCase, score_date: dt.date, rows: list[dict[str, Any]]) -> list[Alert]:
    """One alert per drifted metric of the published run (``rows`` from ``drift_metrics``)."""
    return [
        Alert(
            uc.name,
            "drift",
            f"{score_date}/{r['model_version']}/{r['feature']}/{r['metric']}",
            f"{uc.name} {score_date}: {r['feature']} drifted ({r['metric']} {r['value']:.3f} > "
            f"{r['threshold']:g}, {r['sample_rows']:,} rows, model {r['model_version']})",
            score_date.isoformat(),
            r["model_version"],
            {"feature": r["feature"], "metric": r["metric"], "value": r["value"], "threshold": r["threshold"]},
        )
        for r in rows
        if r["status"] == "drift"
    ]


#: the figures a performance alert quotes, per kind: (metric, label, format)
ALERT_FIGURES = {
    "multiclass": (("macro_f1", "macro F1", ".3f"), ("log_loss", "log loss", ".4f"), ("accuracy", "accuracy", ".3f")),
    "regression": (
        ("mae", "MAE", ".3f"),
        ("rmse", "RMSE", ".3f"),
        ("bias", "bias", "+.3f"),
        ("interval_coverage", "interval coverage", ".2f"),
    ),
}


def performance_message(uc: UseCase, r: dict[str, Any]) -> str:
    """The wording of a degraded (date, version), per task kind: binary its average precision and ROC AUC
    against the floors; multiclass and regression the kind's figures next to the version's holdout ones, then
    the floors that were breached (``r["reasons"]``, from :func:`pipeline.monitoring.performance.assess`)."""
    head = f"{uc.name} {r['score_date']}: model {r['model_version']} degraded on {r['label_count']:,} labels"
    kind = r.get("kind", "binary")
    if kind == "binary":
        cfg = uc.monitoring
        return (
            f"{head} (average precision {figure(r['average_precision'])}, ROC AUC {figure(r['roc_auc'])}, "
            f"floors: {cfg.min_average_precision_ratio:g} x holdout AP, AUC {cfg.min_roc_auc:g})"
        )
    metrics, holdout = r.get("metrics") or {}, r.get("holdout") or {}
    figures = ", ".join(
        f"{label} {figure(metrics.get(key), spec)} (holdout {figure(holdout.get(key), spec)})"
        for key, label, spec in ALERT_FIGURES[kind]
        if key in metrics
    )
    breached = "; ".join(r.get("reasons") or [])
    return f"{head}: {figures}" + (f"; breached: {breached}" if breached else "")


def performance_alerts(uc: UseCase, records: list[dict[str, Any]]) -> list[Alert]:
    """One alert per degraded (date, version) of the champion; shadow scores are evidence, not alarms."""
    alerts = []
    for r in records:
        if r["status"] != "degraded" or r["role"] != "champion":
            continue
        kind = r.get("kind", "binary")
        if kind == "binary":
            details = {
                "average_precision": r["average_precision"],
                "roc_auc": r["roc_auc"],
                "label_count": r["label_count"],
            }
        else:
            metrics = r.get("metrics") or {}
            details = {
                "kind": kind,
                "label_count": r["label_count"],
                **{key: metrics.get(key) for key, _, _ in ALERT_FIGURES[kind] if key in metrics},
                "reasons": list(r.get("reasons") or []),
            }
        alerts.append(
            Alert(
                uc.name,
                "performance",
                f"{r['score_date']}/{r['model_version']}",
                performance_message(uc, r),
                str(r["score_date"]),
                r["model_version"],
                details,
            )
        )
    return alerts


def validation_warning_alerts(uc: UseCase, score_date: dt.date, rows: list[dict[str, Any]]) -> list[Alert]:
    """One alert per failed warning-level expectation of the date (a re-run does not raise it again)."""
    return [
        Alert(
            uc.name,
            "validation_warning",
            f"{score_date}/{r['expectation']}/{r['column_name'] or '-'}",
            f"{uc.name} {score_date}: validation warning, {r['expectation']}"
            f"{' on ' + r['column_name'] if r['column_name'] else ''} failed"
            f"{' (' + str(r['unexpected_count']) + ' rows)' if r['unexpected_count'] is not None else ''}",
            score_date.isoformat(),
            None,
            {"expectation": r["expectation"], "column": r["column_name"]},
        )
        for r in rows
    ]


def run_failure_alert(
    use_case: str, score_date: str | None, dag_id: str, run_id: str, task_id: str, error: str
) -> Alert:
    """The alert for a task that failed for good (called by the Airflow failure callback)."""
    return Alert(
        use_case,
        "run_failed",
        f"{dag_id}/{run_id}/{task_id}",
        f"{use_case}: {dag_id} failed in {task_id} (run {run_id}"
        f"{', score date ' + score_date if score_date else ''}): {error}",
        score_date,
        None,
        {"dag_id": dag_id, "run_id": run_id, "task_id": task_id},
    )


# --- storage (once per breach) -------------------------------------------------------------------------------


def record_new_alerts(engine: Engine, alerts: list[Alert]) -> list[Alert]:
    """Insert the alerts not raised before; return only those (a breach is delivered once)."""
    if not alerts:
        return []
    insert = sa.text(load_sql("monitoring/insert_alert.sql"))
    new = []
    with engine.begin() as conn:
        for alert in alerts:
            inserted = conn.execute(
                insert,
                {
                    "use_case": alert.use_case,
                    "kind": alert.kind,
                    "alert_key": alert.key,
                    "score_date": alert.score_date,
                    "model_version": alert.model_version,
                    "message": alert.message,
                    "details": json.dumps(alert.details, default=str),
                },
            ).first()
            if inserted is not None:
                new.append(alert)
    return new
