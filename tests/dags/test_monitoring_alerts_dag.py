"""Alerts through Airflow's notifier mechanism: each breach reaches the configured webhook once, a failed run
is reported, the token travels only in a header, and the nightly run refreshes the report."""

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from pipeline.orchestration import local as airflow_local

pytestmark = pytest.mark.dags

TOKEN = "hook-token-5d1c"


class Recorder(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.received.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook(monkeypatch):
    Recorder.received = []
    server = HTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv(
        "AIRFLOW_CONN_BATCHSCORE_ALERTS",
        json.dumps(
            {
                "conn_type": "http",
                "host": "127.0.0.1",
                "port": server.server_port,
                "password": TOKEN,
                "extra": {"endpoint": "alerts/batchscore"},
            }
        ),
    )
    yield Recorder.received
    server.shutdown()


def alerts_of(posts, kind=None):
    return [a for p in posts for a in p["body"]["alerts"] if kind is None or a["kind"] == kind]


def test_each_breach_is_notified_once_and_a_failed_run_too(champion, source, webhook):
    day = dt.date(2013, 7, 24)
    first = airflow_local.run_dag("flight_cancellation__score", day)
    assert first.succeeded, first.summary()
    drift = alerts_of(webhook, "drift")
    assert drift, "July inputs against a May-trained champion must drift (weather, cancellation history)"
    assert all(a["score_date"] == day.isoformat() for a in drift)
    assert len({a["key"] for a in drift}) == len(drift)
    assert {p["path"] for p in webhook} == {"/alerts/batchscore"}
    assert {p["auth"] for p in webhook} == {f"Bearer {TOKEN}"}
    assert all(TOKEN not in json.dumps(p["body"]) for p in webhook)
    posts_after_first = len(webhook)

    again = airflow_local.run_dag("flight_cancellation__score", day)  # a re-run: same breaches, nothing new to say
    assert again.succeeded, again.summary()
    assert len(webhook) == posts_after_first

    failed = airflow_local.run_dag("flight_cancellation__score", dt.date(2014, 3, 1))
    assert failed.state == "failed"
    [alert] = alerts_of(webhook[posts_after_first:], "run_failed")
    assert "validate" in alert["message"] and "batch is empty" in alert["message"]


def test_the_nightly_run_refreshes_the_report_and_returns_its_path(champion, source):
    outcome = airflow_local.run_dag("flight_cancellation__score", dt.date(2013, 7, 25))
    assert outcome.succeeded, outcome.summary()
    report = Path(airflow_local.task_return("flight_cancellation__score", outcome.run_id, "refresh_report")["path"])
    assert report.is_file() and report.name == "flight_cancellation.html"
    document = report.read_text(encoding="utf-8")
    assert document.count("data:image/png;base64,") == 5 and "2013-07-25" in document
    monitored = airflow_local.task_return("flight_cancellation__score", outcome.run_id, "monitor")
    assert monitored["run_id"] == outcome.run_id and "v_latest_predictions" in monitored["views"]
