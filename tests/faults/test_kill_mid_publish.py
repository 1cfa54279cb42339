"""SIGKILL of the scoring process in the middle of publish (ledger row written, partition swap pending):
readers never see a partial date, and a re-run of the same run completes with the exact counts."""

import datetime as dt
import os
import signal

import sqlalchemy as sa

from pipeline import tasks
from tests.faults.conftest import (
    backend_alive,
    backends_waiting_on,
    reap,
    staging_leftovers,
    start_scoring_process,
    wait_for,
)
from tests.helpers import flights_on, ledger, predictions_fingerprint

DAY = dt.date(2013, 9, 2)


def holds_ledger_row(engine, pid: int) -> bool:
    """Whether backend ``pid`` has inserted a ledger row in its open transaction."""
    with engine.connect() as conn:
        return bool(
            conn.execute(
                sa.text(
                    "select count(*) from pg_locks where pid = :p and granted and mode = 'RowExclusiveLock' "
                    "and relation = 'batchscore.scoring_runs'::regclass"
                ),
                {"p": pid},
            ).scalar()
        )


def test_sigkill_in_the_middle_of_publish_leaves_the_old_date_and_a_rerun_completes(champion, source, tmp_path):
    tasks.run_night(DAY.isoformat(), "fault-kill-before")
    before = predictions_fingerprint(source, DAY)
    expected = flights_on(source, DAY)
    assert before[0] == expected and before[2] == "fault-kill-before"

    # A reader inside an open transaction holds the date's partition, so publish stops at its last step: its
    # ledger row is written (uncommitted) and it waits to swap the partition when the process is killed.
    holder = source.connect()
    assert predictions_fingerprint(holder, DAY) == before
    proc = start_scoring_process(DAY.isoformat(), "fault-kill", tmp_path / "killed.log")
    try:
        # publish retries the swap every few seconds (each try waits at most 2 s for the table): catch a try
        # that waits to detach with its ledger row already inserted, in one look at the lock table
        [pid] = wait_for(
            "publish to block on the partition swap, its ledger row written",
            lambda: [
                p for p in backends_waiting_on(source, "relation", "%detach partition%") if holds_ledger_row(source, p)
            ],
            procs=(proc,),
        )
        assert predictions_fingerprint(holder, DAY) == before  # ... and the reader still sees the old date
        os.killpg(proc.pid, signal.SIGKILL)
        assert reap(proc) == -signal.SIGKILL
    finally:
        holder.rollback()
        holder.close()
        if proc.poll() is None:
            reap(proc)
    # the server notices the dead client and rolls the open transaction back
    wait_for("the killed run's backend to go away", lambda: not backend_alive(source, pid))
    assert predictions_fingerprint(source, DAY) == before
    assert ledger(source, "fault-kill") == []  # SIGKILL leaves no ledger row, and no half-published date

    # Airflow's retry re-runs the same run id: it starts from a fresh extract and publishes exactly once
    result = tasks.run_night(DAY.isoformat(), "fault-kill")
    after = predictions_fingerprint(source, DAY)
    assert result["rows"] == expected
    assert after == (expected, before[1], "fault-kill")  # same count and content checksum, the new run's rows
    [row] = ledger(source, "fault-kill")
    assert (row["status"], row["rows_in"], row["rows_out"]) == ("succeeded", expected, expected)
    assert staging_leftovers(source, DAY) == 0
    print(f"fault report: before={before} after={after}")
