"""Assertions shared by integration and DAG tests."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

#: every task of a scoring DAG (<use case>__score), as dags/scoring.py declares them
SCORE_DAILY_TASKS = frozenset(
    {
        "extract",
        "validate",
        "build_features",
        "measure_drift",
        "plan_shards",
        "score",
        "shadow_score",
        "publish",
        "monitor",
        "refresh_report",
    }
)


def flights_on(engine, day: dt.date) -> int:
    """Scheduled departures of one day in the source system."""
    with engine.connect() as conn:
        return conn.execute(
            sa.text("select count(*) from source.flights where flight_date = :d"), {"d": day}
        ).scalar_one()


def predictions_fingerprint(bind, day: dt.date, table: str = "batchscore.predictions") -> tuple:
    """(row count, md5 of the published content, run ids) of one date's predictions; ``bind``: an engine, or a
    connection to read inside its open transaction."""
    if isinstance(bind, sa.Connection):
        return _fingerprint(bind, day, table)
    with bind.connect() as conn:
        return _fingerprint(conn, day, table)


def _fingerprint(conn, day: dt.date, table: str) -> tuple:
    return tuple(
        conn.execute(
            sa.text(
                "select count(*), coalesce(md5(string_agg(entity_id || ':' || score::text || ':' || "
                "predicted_label::text || ':' || model_version, ',' order by entity_id)), ''), "
                f"coalesce(string_agg(distinct run_id, ','), '') from {table} where score_date = :d"
            ),
            {"d": day},
        ).one()
    )


def ledger(engine, run_id: str) -> list[dict]:
    """The scoring_runs rows of one run id, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("select * from batchscore.scoring_runs where run_id = :r order by id"), {"r": run_id}
        )
        return [dict(r._mapping) for r in rows]


def stop_cluster(pgdata) -> None:
    """Stop a throwaway pgserver cluster a test started (pgserver deletes its folder at exit; stopping it here,
    while pytest's temporary folders are still reachable, keeps its exit handler from failing)."""
    import os

    from pipeline.db.engine import import_pgserver

    import_pgserver(pgdata)
    from pgserver._commands import pg_ctl

    if (pgdata / "postmaster.pid").exists():
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user="pgserver" if os.geteuid() == 0 else None)
