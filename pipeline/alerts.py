"""Alerts: every breach (a failed run, a validation warning, a drifted metric, a degraded performance) is
recorded once in ``batchscore.alerts`` and delivered once, through the channels configured.

The log channel always runs. A webhook (an Airflow connection of type http/https) and e-mail (type smtp or
email) are added when the ``batchscore_alerts`` connection exists; their secrets stay in the connection and
never reach a log line or a message. Airflow calls :func:`pipeline.airflow_support` notifiers; without Airflow
the command line logs.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import smtplib
import urllib.request
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pipeline.sqlfiles import load_sql
from pipeline.usecase import UseCase

log = logging.getLogger("batchscore.alerts")

ALERTS_CONN_ID = "batchscore_alerts"
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
        return {"use_case": self.use_case, "kind": self.kind, "key": self.key, "message": self.message,
                "score_date": self.score_date, "model_version": self.model_version, "details": self.details}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Alert:
        return cls(str(raw["use_case"]), str(raw["kind"]), str(raw["key"]), str(raw["message"]),
                   raw.get("score_date"), raw.get("model_version"), raw.get("details") or {})


# --- breaches (pure) -----------------------------------------------------------------------------------------

def drift_alerts(uc: UseCase, score_date: dt.date, rows: list[dict[str, Any]]) -> list[Alert]:
    """One alert per drifted metric of the published run (``rows`` from ``drift_metrics``)."""
    return [
        Alert(uc.name, "drift", f"{score_date}/{r['model_version']}/{r['feature']}/{r['metric']}",
              f"{uc.name} {score_date}: {r['feature']} drifted ({r['metric']} {r['value']:.3f} > "
              f"{r['threshold']:g}, {r['sample_rows']:,} rows, model {r['model_version']})",
              score_date.isoformat(), r["model_version"],
              {"feature": r["feature"], "metric": r["metric"], "value": r["value"], "threshold": r["threshold"]})
        for r in rows if r["status"] == "drift"
    ]


def performance_alerts(uc: UseCase, records: list[dict[str, Any]]) -> list[Alert]:
    """One alert per degraded (date, version) of the champion; shadow scores are evidence, not alarms."""
    alerts = []
    for r in records:
        if r["status"] != "degraded" or r["role"] != "champion":
            continue
        ap = "n/a" if r["average_precision"] is None else f"{r['average_precision']:.3f}"
        auc = "n/a" if r["roc_auc"] is None else f"{r['roc_auc']:.3f}"
        alerts.append(Alert(
            uc.name, "performance", f"{r['score_date']}/{r['model_version']}",
            f"{uc.name} {r['score_date']}: model {r['model_version']} degraded on {r['label_count']:,} labels "
            f"(average precision {ap}, ROC AUC {auc}, floors: {uc.monitoring.min_average_precision_ratio:g} x "
            f"holdout AP, AUC {uc.monitoring.min_roc_auc:g})",
            str(r["score_date"]), r["model_version"],
            {"average_precision": r["average_precision"], "roc_auc": r["roc_auc"], "label_count": r["label_count"]},
        ))
    return alerts


def validation_warning_alerts(uc: UseCase, score_date: dt.date, rows: list[dict[str, Any]]) -> list[Alert]:
    """One alert per failed warning-level expectation of the date (a re-run does not raise it again)."""
    return [
        Alert(uc.name, "validation_warning",
              f"{score_date}/{r['expectation']}/{r['column_name'] or '-'}",
              f"{uc.name} {score_date}: validation warning, {r['expectation']}"
              f"{' on ' + r['column_name'] if r['column_name'] else ''} failed"
              f"{' (' + str(r['unexpected_count']) + ' rows)' if r['unexpected_count'] is not None else ''}",
              score_date.isoformat(), None, {"expectation": r["expectation"], "column": r["column_name"]})
        for r in rows
    ]


def run_failure_alert(use_case: str, score_date: str | None, dag_id: str, run_id: str, task_id: str,
                      error: str) -> Alert:
    """The alert for a task that failed for good (called by the Airflow failure callback)."""
    return Alert(use_case, "run_failed", f"{dag_id}/{run_id}/{task_id}",
                 f"{use_case}: {dag_id} failed in {task_id} (run {run_id}"
                 f"{', score date ' + score_date if score_date else ''}): {error}",
                 score_date, None, {"dag_id": dag_id, "run_id": run_id, "task_id": task_id})


# --- storage (once per breach) -------------------------------------------------------------------------------

def record_new_alerts(engine: Engine, alerts: list[Alert]) -> list[Alert]:
    """Insert the alerts not raised before; return only those (a breach is delivered once)."""
    if not alerts:
        return []
    insert = sa.text(load_sql("queries/insert_alert.sql"))
    new = []
    with engine.begin() as conn:
        for alert in alerts:
            inserted = conn.execute(insert, {
                "use_case": alert.use_case, "kind": alert.kind, "alert_key": alert.key,
                "score_date": alert.score_date, "model_version": alert.model_version, "message": alert.message,
                "details": json.dumps(alert.details, default=str),
            }).first()
            if inserted is not None:
                new.append(alert)
    return new


# --- delivery ------------------------------------------------------------------------------------------------

class Channel(Protocol):
    name: str

    def send(self, alerts: list[Alert]) -> None: ...


class LogChannel:
    """Every alert as a WARNING line of the ``batchscore.alerts`` logger (the task log under Airflow)."""

    name = "log"

    def send(self, alerts: list[Alert]) -> None:
        for alert in alerts:
            log.warning("ALERT [%s] %s", alert.kind, alert.message)


class WebhookChannel:
    """POST the alerts as JSON; a bearer token, when configured, travels in a header (never in the URL)."""

    name = "webhook"

    def __init__(self, url: str, token: str | None = None, timeout: float = 10.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError("the alert webhook needs an http(s) URL")
        self.url, self._token, self.timeout = url, token, timeout

    def __repr__(self) -> str:
        return f"WebhookChannel(url={self.url!r})"

    def send(self, alerts: list[Alert]) -> None:
        body = json.dumps({"source": "batchscore", "alerts": [a.as_dict() for a in alerts]}, default=str).encode()
        request = urllib.request.Request(self.url, data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        if self._token:
            request.add_header("Authorization", f"Bearer {self._token}")
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            if response.status >= 300:
                raise RuntimeError(f"webhook answered HTTP {response.status}")


class EmailChannel:
    """One e-mail listing the alerts, over SMTP (STARTTLS unless disabled)."""

    name = "email"

    def __init__(self, host: str, port: int, sender: str, recipients: list[str], *, login: str | None = None,
                 password: str | None = None, starttls: bool = True, timeout: float = 20.0) -> None:
        if not recipients:
            raise ValueError("the alert e-mail connection needs recipients (extra: {\"to\": [...]})")
        self.host, self.port, self.sender, self.recipients = host, port, sender, recipients
        self.login, self._password, self.starttls, self.timeout = login, password, starttls, timeout

    def __repr__(self) -> str:
        return f"EmailChannel(host={self.host!r}, port={self.port}, recipients={self.recipients!r})"

    def send(self, alerts: list[Alert]) -> None:
        message = EmailMessage()
        kinds = sorted({a.kind for a in alerts})
        message["Subject"] = f"[batchscore] {len(alerts)} alert(s): {', '.join(kinds)}"
        message["From"], message["To"] = self.sender, ", ".join(self.recipients)
        message.set_content("\n".join(f"- [{a.kind}] {a.message}" for a in alerts))
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.login:
                smtp.login(self.login, self._password or "")
            smtp.send_message(message)


def channel_from_connection(conn: Any) -> Channel:
    """A webhook or e-mail channel from an Airflow connection (conn_type http/https or smtp/email)."""
    kind = (conn.conn_type or "").lower()
    extra = conn.extra_dejson or {}
    if kind in ("http", "https"):
        host = conn.host or ""
        if not host.startswith(("http://", "https://")):
            scheme = "https" if kind == "https" or conn.schema == "https" else "http"
            host = f"{scheme}://{host}{':' + str(conn.port) if conn.port else ''}"
        endpoint = str(extra.get("endpoint", "")).lstrip("/")
        return WebhookChannel(f"{host.rstrip('/')}/{endpoint}" if endpoint else host, token=conn.password)
    if kind in ("smtp", "email"):
        to = extra.get("to") or []
        return EmailChannel(conn.host, int(conn.port or 587), extra.get("from") or conn.login or "batchscore",
                            [to] if isinstance(to, str) else list(to), login=conn.login, password=conn.password,
                            starttls=bool(extra.get("starttls", True)))
    raise ValueError(f"connection {conn.conn_id!r}: type {kind!r} is not an alert channel (use http, https or smtp)")


def deliver(alerts: list[Alert], channels: list[Channel]) -> dict[str, str]:
    """Send the alerts on every channel; a failing channel is logged (without secrets), not raised, so that
    one broken webhook does not silence the others. Returns the outcome per channel."""
    outcome: dict[str, str] = {}
    if not alerts:
        return outcome
    for channel in [LogChannel(), *channels]:
        try:
            channel.send(alerts)
            outcome[channel.name] = "sent"
        except Exception as exc:  # report and go on with the next channel
            outcome[channel.name] = f"failed: {type(exc).__name__}"
            log.error("alert delivery through %s failed: %s", channel.name, type(exc).__name__)
    return outcome
