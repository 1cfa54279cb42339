"""Two runs of the same date at once serialise on the per-date advisory lock: one consistent result."""

import datetime as dt

import sqlalchemy as sa

from pipeline.db.locks import Lock
from tests.faults.conftest import backends_waiting_on, reap, staging_leftovers, start_scoring_process, wait_for
from tests.helpers import flights_on, ledger, predictions_fingerprint

DAY = dt.date(2013, 9, 3)


def test_two_runs_of_one_date_serialise_on_the_lock_and_leave_one_consistent_result(champion, source, tmp_path):
    from pipeline import tasks

    tasks.run_night(DAY.isoformat(), "fault-concurrent-reference")
    reference = predictions_fingerprint(source, DAY)
    expected = flights_on(source, DAY)
    assert reference[0] == expected

    holder = source.connect()  # hold the date's publish lock so both runs reach it before either publishes
    key = {"k": int(Lock.PUBLISH_DATE), "key": f"{champion.use_case}/{DAY.isoformat()}"}
    holder.execute(sa.text("select pg_advisory_lock(:k, hashtext(:key))"), key)
    procs = [start_scoring_process(DAY.isoformat(), f"fault-concurrent-{n}", tmp_path / f"{n}.log") for n in "ab"]
    try:
        waiting = wait_for(
            "both runs to wait on the date's advisory lock",
            lambda: len(backends_waiting_on(source, "advisory")) == 2,
            procs=tuple(procs),
        )
        assert waiting
        assert predictions_fingerprint(source, DAY) == reference  # neither has published anything yet
        holder.execute(sa.text("select pg_advisory_unlock(:k, hashtext(:key))"), key)
        holder.commit()
        codes = [reap(p) for p in procs]
    finally:
        holder.close()
        for p in procs:
            if p.poll() is None:
                reap(p)
    logs = [(tmp_path / f"{n}.log").read_text()[-2000:] for n in "ab"]
    assert codes == [0, 0], logs

    rows = [r for n in "ab" for r in ledger(source, f"fault-concurrent-{n}")]
    assert sorted((r["status"], r["rows_out"]) for r in rows) == [("succeeded", expected)] * 2
    last = max(rows, key=lambda r: r["id"])  # the run that committed last owns the date
    after = predictions_fingerprint(source, DAY)
    assert after == (expected, reference[1], last["run_id"])  # exact count, same checksum, one run's rows only
    with source.connect() as conn:
        dupes = conn.execute(
            sa.text("select count(*) - count(distinct entity_id) from batchscore.predictions where score_date = :d"),
            {"d": DAY},
        ).scalar()
    assert dupes == 0
    assert staging_leftovers(source, DAY) == 0
    print(f"fault report: reference={reference} after={after}")
