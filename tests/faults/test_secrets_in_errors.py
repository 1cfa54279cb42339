"""The database password never reaches an error message or a log line, even when the database is
unreachable and the stage fails inside SQLAlchemy or psycopg2 (tasks log exactly these messages)."""

import datetime as dt
import logging
import socket

import pytest

from pipeline import tasks

PASSWORD = "pw-Zq81-never-print-me"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once the socket is closed


@pytest.mark.parametrize("stage", ["extract", "validate", "score", "publish", "record_failure"])
def test_a_stage_failing_on_an_unreachable_database_never_shows_the_password(stage, monkeypatch, caplog):
    from pipeline.db.engine import dispose_engines

    monkeypatch.setenv("BATCHSCORE_DATABASE_URL", f"postgresql://writer:{PASSWORD}@127.0.0.1:{_closed_port()}/x")
    batch = {
        "usecase_ref": "flight_cancellation",
        "score_date": "2013-09-12",
        "run_id": "secret-test",
        "rows": 1,
        "seconds": 0.1,
        "started_at": dt.datetime.now(dt.UTC).isoformat(),
    }
    calls = {
        "extract": lambda: tasks.extract("2013-09-12", "secret-test"),
        "validate": lambda: tasks.validate(batch),
        "score": lambda: tasks.score(batch),
        "publish": lambda: tasks.publish(
            batch,
            {"seconds": 0, "status": "passed"},
            {"seconds": 0},
            {"seconds": 0, "model_version": "v1", "model_sha256": "0" * 64, "threshold": 0.5, "rows": 1},
        ),
        "record_failure": lambda: tasks.record_failure("2013-09-12", "secret-test", "boom"),
    }
    caplog.set_level(logging.DEBUG)
    try:
        with pytest.raises(Exception) as info:
            calls[stage]()
    finally:
        dispose_engines()
    chain, exc = [], info.value
    while exc is not None:  # the message of every chained exception, as a traceback would show them
        chain.append(f"{type(exc).__name__}: {exc}")
        exc = exc.__cause__ or exc.__context__
    assert "127.0.0.1" in "\n".join(chain)  # it really failed connecting
    assert PASSWORD not in "\n".join(chain)
    assert PASSWORD not in caplog.text
