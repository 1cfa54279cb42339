"""Delivering alerts: always to the log, and to the webhook or e-mail of the Airflow connection
``batchscore_alerts`` when it exists. Secrets stay in the connection and never reach a log line or a message;
a failing channel is logged by exception type only and does not silence the others.
"""

from __future__ import annotations

import json
import logging
import smtplib
import urllib.request
from email.message import EmailMessage
from typing import Any, Protocol

from pipeline.errors import ConfigError, TransientError
from pipeline.monitoring.alerts import Alert

log = logging.getLogger("batchscore.alerts")

ALERTS_CONN_ID = "batchscore_alerts"


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
            raise ConfigError("the alert webhook needs an http(s) URL")
        self.url, self._token, self.timeout = url, token, timeout

    def __repr__(self) -> str:
        return f"WebhookChannel(url={self.url!r})"

    def send(self, alerts: list[Alert]) -> None:
        body = json.dumps({"source": "batchscore", "alerts": [a.as_dict() for a in alerts]}, default=str).encode()
        request = urllib.request.Request(
            self.url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        if self._token:
            request.add_header("Authorization", f"Bearer {self._token}")
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            if response.status >= 300:
                raise TransientError(f"webhook answered HTTP {response.status}")


class EmailChannel:
    """One e-mail listing the alerts, over SMTP (STARTTLS unless disabled)."""

    name = "email"

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        recipients: list[str],
        *,
        login: str | None = None,
        password: str | None = None,
        starttls: bool = True,
        timeout: float = 20.0,
    ) -> None:
        if not recipients:
            raise ConfigError('the alert e-mail connection needs recipients (extra: {"to": [...]})')
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
        return EmailChannel(
            conn.host,
            int(conn.port or 587),
            extra.get("from") or conn.login or "batchscore",
            [to] if isinstance(to, str) else list(to),
            login=conn.login,
            password=conn.password,
            starttls=bool(extra.get("starttls", True)),
        )
    raise ConfigError(f"connection {conn.conn_id!r}: type {kind!r} is not an alert channel (use http, https or smtp)")


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
