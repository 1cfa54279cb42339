"""Hostile conditions found by an attack on a demo database (issue 17): each failed before and is pinned down here.

1 an open BI transaction, 2 a re-run under the same run id, 3 rollback to a version that never was champion,
4 two `batchscore run` of one date, 5 absurd dates, 6 staging tables of runs that did not publish, 7 failures in
more than one line, 8 a password with an unescaped '@', 9 a check skipped without a trace, 10 a URL psql rejects.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from pipeline import tasks
from pipeline.cli import main
from pipeline.config.paths import project_root
from pipeline.config.settings import load_settings
from tests.faults.conftest import reap, staging_leftovers, start_scoring_process, wait_for
from tests.helpers import flights_on, ledger

BI_VIEWS = ("v_latest_predictions", "v_daily_summary", "v_drift", "v_model_performance", "v_promotions")


def _staging_runs(engine, run_id: str) -> int:
    with engine.connect() as conn:
        return conn.execute(
            sa.text("select count(*) from batchscore.staging_runs where run_id = :r"), {"r": run_id}
        ).scalar_one()


# 1 --------------------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _bi_session_on_every_view(database_url) -> Iterator[int]:
    """A dashboard that read every view and left its transaction open (yields its pid; rolled back on exit)."""
    holder_engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    holder = holder_engine.connect()
    transaction = holder.begin()
    try:
        for view in BI_VIEWS:
            holder.execute(sa.text(f"select * from batchscore.{view} limit 1")).all()
        yield holder.execute(sa.text("select pg_backend_pid()")).scalar_one()
    finally:
        transaction.rollback()
        holder.close()
        holder_engine.dispose()


@contextlib.contextmanager
def _another_reader(engine, view: str, pause_s: float) -> Iterator[list[float]]:
    """Another BI reader querying ``view`` over and over; yields how long each of its queries took."""
    waits: list[float] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            started = time.monotonic()
            with engine.connect() as conn:
                conn.execute(sa.text("set statement_timeout = '20s'"))
                conn.execute(sa.text(f"select count(*) from batchscore.{view}")).scalar_one()
            waits.append(time.monotonic() - started)
            time.sleep(pause_s)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        yield waits
    finally:
        stop.set()
        reader.join(30)


def test_a_bi_session_idle_in_a_transaction_on_every_view_neither_hangs_a_night_nor_blocks_other_readers(
    champion, source, database_url
):
    tasks.run_night("2013-10-01", "hostile-bi-before")  # the views exist and are current
    outcome: dict = {}

    def night() -> None:
        try:
            started = time.monotonic()
            outcome["result"] = tasks.run_night("2013-10-02", "hostile-bi-night")
            outcome["seconds"] = time.monotonic() - started
            started = time.monotonic()
            outcome["cli"] = main(["model", "list"])
            outcome["cli_seconds"] = time.monotonic() - started
        except BaseException as exc:  # reported below
            outcome["error"] = exc

    runner = threading.Thread(target=night, daemon=True)
    with _bi_session_on_every_view(database_url), _another_reader(source, "v_latest_predictions", 0.2) as waits:
        runner.start()
        runner.join(180)
        hung = runner.is_alive()
    runner.join(60)  # the session is gone: a hung night goes on before the asserts
    assert not hung, "the night waited for the BI session"
    assert "error" not in outcome, outcome.get("error")
    assert outcome["result"]["rows"] == flights_on(source, dt.date(2013, 10, 2))
    assert outcome["cli"] == 0 and outcome["cli_seconds"] < 30
    assert waits and max(waits) < 2.5, f"a reader waited {max(waits):.2f} s"  # the DDL lock timeout is 2 s
    print(
        f"fault report: night {outcome['seconds']:.1f} s with a BI transaction open on {len(BI_VIEWS)} views; "
        f"`model list` {outcome['cli_seconds']:.1f} s; a concurrent reader waited at most {max(waits):.3f} s over "
        f"{len(waits)} queries"
    )


def test_a_view_that_must_be_replaced_behind_a_bi_session_gives_up_in_bounded_tries_and_readers_never_queue_long(
    champion, source, usecase, database_url, monkeypatch
):
    """The other side of the steady state: DDL that has to run waits 2 s per try, then fails naming the session."""
    from pipeline.db.ddl import DdlLockTimeout
    from pipeline.monitoring.bi_views import ensure_bi_views

    ensure_bi_views(source, usecase)
    stale_comment = "batchscore view made from an older file"
    with source.begin() as conn:  # as if v_daily_summary's file had changed since the view was made
        conn.execute(sa.text(f"comment on view batchscore.v_daily_summary is '{stale_comment}'"))
    monkeypatch.setenv("BATCHSCORE_PUBLISH_LOCK_WAIT", "5")
    with (
        _bi_session_on_every_view(database_url) as holder_pid,
        _another_reader(source, "v_daily_summary", 0.1) as waits,
    ):
        started = time.monotonic()
        with pytest.raises(DdlLockTimeout, match=rf"could not lock .* in 5 s .*pid {holder_pid} .*nothing was changed"):
            ensure_bi_views(source, usecase)
        gave_up_after = time.monotonic() - started
    assert gave_up_after < 5 + 2 * 2 + 2, gave_up_after  # the budget, at most one 2 s try past it, and slack
    assert waits and max(waits) < 2.5, f"a reader waited {max(waits):.2f} s"
    comment = "select obj_description('batchscore.v_daily_summary'::regclass, 'pg_class')"
    with source.connect() as conn:
        assert conn.execute(sa.text(comment)).scalar_one() == stale_comment  # nothing was changed
    ensure_bi_views(source, usecase)  # the session gone, the view is replaced at once
    with source.connect() as conn:
        assert conn.execute(sa.text(comment)).scalar_one() != stale_comment
    print(
        f"fault report: replacing a view behind a BI session gave up after {gave_up_after:.1f} s (budget 5 s); "
        f"a concurrent reader waited at most {max(waits):.3f} s over {len(waits)} queries"
    )


# 2 --------------------------------------------------------------------------------------------------------------


def test_a_rerun_under_the_same_run_id_leaves_one_success_and_the_date_once_in_the_views(champion, source, usecase):
    from pipeline.monitoring.report.data import load_report_data

    day = "2013-10-03"
    first = tasks.run_night(day, "hostile-same-run-id")
    second = tasks.run_night(day, "hostile-same-run-id")  # what clearing a finished Airflow run does
    rows = ledger(source, "hostile-same-run-id")
    assert [(r["status"], r["attempt"]) for r in rows] == [("superseded", 1), ("succeeded", 2)]
    with source.connect() as conn:
        summary = conn.execute(
            sa.text("select count(*), sum(rows_scored) from batchscore.v_daily_summary where score_date = :d"),
            {"d": day},
        ).one()
    assert tuple(summary) == (1, first["rows"]) and first["rows"] == second["rows"]
    report = load_report_data(source, usecase, dt.date(2013, 10, 3), dt.date(2013, 10, 3))
    assert len(report.daily) == 1 and int(report.daily["rows_scored"].sum()) == first["rows"]


# 3 --------------------------------------------------------------------------------------------------------------


def test_rollback_restores_only_a_former_champion_unless_forced_and_says_when_a_rescore_failed(champion, source):
    from pipeline.model import registry

    original = registry.get_champion(source, champion.use_case)
    record = registry.training_record(source, original.use_case, original.version)
    candidate = registry.register_version(
        source,
        use_case=original.use_case,
        artifact_path=original.artifact_path,
        artifact_sha256=original.artifact_sha256,
        created_by="tests:hostile",
        windows={k: record[k] for k in ("train_from", "train_to", "holdout_from", "holdout_to")},
        train_rows=1,
        holdout_rows=1,
        features=original.features,
        hyperparameters={},
        holdout_metrics=original.holdout_metrics,
        threshold=original.threshold,
        make_champion_if_none=False,
    )
    with source.begin() as conn:
        registry.set_status(conn, original.use_case, candidate.version, "rejected")
    try:
        with pytest.raises(registry.ModelError, match=f"{candidate.version} was never champion .status rejected."):
            tasks.rollback(candidate.version, reason="try the rejected one")
        assert registry.get_champion(source, original.use_case).version == original.version
        forced = tasks.rollback(candidate.version, reason="the operator insists", force=True)
        assert forced["champion"] == candidate.version
        with source.connect() as conn:
            was_forced = conn.execute(
                sa.text(
                    "select forced from batchscore.promotion_decisions where challenger_version = :v "
                    "and actor = 'rollback' order by id desc limit 1"
                ),
                {"v": candidate.version},
            ).scalar_one()
        assert was_forced is True
        back = tasks.rollback(None, reason="back to the former champion")
        assert back["champion"] == original.version
        statuses = {v["version"]: v["status"] for v in registry.list_versions(source, original.use_case)}
        assert statuses[original.version] == "champion" and statuses[candidate.version] == "archived"
        with pytest.raises(
            tasks.RescoreFailed,
            match=rf"rolled back to {candidate.version} \(was "
            rf"{original.version}\); re-scoring 2014-03-01 failed: ValidationFailed",
        ):
            tasks.rollback(candidate.version, reason="again, with a re-score", rescore_dates=["2014-03-01"])
        assert registry.get_champion(source, original.use_case).version == candidate.version  # it did happen
    finally:
        if registry.get_champion(source, original.use_case).version != original.version:
            tasks.rollback(original.version, reason="restore the session's champion")


# 4 --------------------------------------------------------------------------------------------------------------


def test_a_second_batchscore_run_of_a_date_that_is_running_is_refused_and_deletes_nothing(
    champion, source, tmp_path, capsys
):
    day = "2013-10-04"
    code = "import sys; from pipeline.cli import main; sys.exit(main(sys.argv[1:]))"
    log = tmp_path / "first.log"
    with log.open("wb") as out:
        first = subprocess.Popen(
            [sys.executable, "-c", code, "run", "flight_cancellation__score", "--date", day],
            cwd=project_root(),
            env=dict(os.environ),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        locks = load_settings().airflow_home / "locks"

        def first_holds_the_date() -> bool:
            for path in locks.glob("flight_cancellation__score-20131003T220000.lock"):
                with path.open("a+") as handle:
                    try:
                        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        fcntl.flock(handle, fcntl.LOCK_UN)
                    except BlockingIOError:
                        return True
            return False

        try:
            wait_for("the first run to hold the date", first_holds_the_date, timeout=120)
            assert main(["run", "flight_cancellation__score", "--date", day]) == 1
            err = capsys.readouterr().err.strip()
            assert re.fullmatch(
                rf"batchscore run: flight_cancellation__score for {day} is already running \(batchscore, pid "
                rf"{first.pid}\): wait for it to finish, then run again",
                err,
            ), err
            assert first.wait(300) == 0, log.read_text()[-3000:]
        finally:
            if first.poll() is None:
                os.killpg(first.pid, 9)
    with source.connect() as conn:
        runs = conn.execute(
            sa.text("select status, count(*) from batchscore.scoring_runs where score_date = :d group by 1"), {"d": day}
        ).all()
    assert dict(runs) == {"succeeded": 1}


# 5 --------------------------------------------------------------------------------------------------------------


def test_a_date_outside_the_use_cases_window_is_refused_before_anything_runs(champion, source, capsys):
    import copy

    from airflow.sdk.exceptions import ParamValidationError

    from pipeline.orchestration import local as airflow_local

    assert main(["score", "--date", "9999-12-31"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        "batchscore score: --date 9999-12-31 is outside the dates flight_cancellation may score, "
        "2013-01-01 to 2014-12-31 (its [scoring] score_dates)"
    )
    assert main(["run", "flight_cancellation__score", "--date", "2031-01-01"]) == 1
    assert "outside the dates flight_cancellation may score" in capsys.readouterr().err
    params = copy.deepcopy(airflow_local.load_dag("flight_cancellation__score").params)
    with pytest.raises(ParamValidationError):  # the form and the API refuse it before a run exists
        params.update({"score_date": "9999-12-31"})
        params.validate()
    with source.connect() as conn:
        assert (
            conn.execute(
                sa.text("select count(*) from batchscore.scoring_runs where score_date > '2014-12-31'")
            ).scalar_one()
            == 0
        )


# 6 --------------------------------------------------------------------------------------------------------------


def test_the_staging_tables_of_rejected_failed_and_killed_runs_are_dropped(champion, source, monkeypatch, tmp_path):
    from pipeline.validation.checks import ValidationFailed

    with pytest.raises(ValidationFailed):
        tasks.run_night("2014-03-01", "hostile-rejected")
    assert staging_leftovers(source, dt.date(2014, 3, 1)) == 0 and _staging_runs(source, "hostile-rejected") == 0

    import pipeline.scoring.score

    def breaks(*args, **kwargs):
        raise RuntimeError("the model blew up")

    monkeypatch.setattr(pipeline.scoring.score, "stream_scores", breaks)
    with pytest.raises(RuntimeError, match="blew up"):
        tasks.run_night("2013-10-05", "hostile-failed")
    monkeypatch.undo()
    assert staging_leftovers(source, dt.date(2013, 10, 5)) == 0 and _staging_runs(source, "hostile-failed") == 0

    killed_day = dt.date(2013, 10, 6)
    kill_mid_run(source, killed_day, "hostile-killed", tmp_path / "killed.log")
    assert staging_leftovers(source, killed_day) > 0 and _staging_runs(source, "hostile-killed") == 1
    with source.begin() as conn:  # the next run drops abandoned runs older than BATCHSCORE_STAGING_MAX_AGE_HOURS
        conn.execute(
            sa.text(
                "update batchscore.staging_runs set created_at = now() - interval '2 days' "
                "where run_id = 'hostile-killed'"
            )
        )
    tasks.run_night("2013-10-07", "hostile-next-run")
    assert staging_leftovers(source, killed_day) == 0 and _staging_runs(source, "hostile-killed") == 0

    kill_mid_run(source, dt.date(2013, 10, 8), "hostile-killed-again", tmp_path / "again.log")
    with source.begin() as conn:  # what a version before the registry left: run tables no run registered
        conn.execute(sa.text("create table batchscore_staging.batch_20130901_0123456789ab (x int)"))
        conn.execute(sa.text("create table batchscore_staging.scores_20130901_0123456789ab_s1 (x int)"))
        conn.execute(sa.text("create table batchscore_staging.kept_by_someone_else (x int)"))
    assert main(["db", "vacuum-staging", "--older-than", "0"]) == 0
    assert staging_leftovers(source, dt.date(2013, 10, 8)) == 0
    with source.connect() as conn:
        left = conn.execute(
            sa.text(
                "select tablename from pg_tables where schemaname = 'batchscore_staging' "
                "and (tablename like '%0123456789ab%' or tablename = 'kept_by_someone_else')"
            )
        ).scalars()
        assert list(left) == ["kept_by_someone_else"]


def kill_mid_run(engine, day: dt.date, run_id: str, log_path) -> None:
    """Start `batchscore score` for ``day``, hold it before score (the predictions table locked), kill -9 it."""
    holder = engine.connect()
    transaction = holder.begin()
    holder.execute(sa.text("lock table batchscore.predictions in access exclusive mode"))
    proc = start_scoring_process(day.isoformat(), run_id, log_path)
    try:
        wait_for(
            f"{run_id}'s batch, freshness probe and features",
            lambda: staging_leftovers(engine, day) >= 3,
            timeout=120,
            procs=(proc,),
        )
        os.killpg(proc.pid, 9)
        reap(proc)
    finally:
        transaction.rollback()
        holder.close()


# 7 --------------------------------------------------------------------------------------------------------------


def _declared_with(source_uc_path, tmp_path, batch_sql: str):
    """A copy of the demo use case whose batch query is ``batch_sql`` (a file outside the repository)."""
    sql = tmp_path / "batch.sql"
    sql.write_text(batch_sql)
    toml = tmp_path / "broken.toml"
    text = source_uc_path.read_text().replace('batch = "usecases/flight_cancellation/batch.sql"', f'batch = "{sql}"')
    toml.write_text(text)
    return toml, sql


def test_a_syntax_error_in_batch_sql_is_one_line_naming_file_line_and_key_and_a_rejection(
    champion, source, tmp_path, capsys
):
    path = project_root() / "usecases" / "flight_cancellation.toml"
    original = (project_root() / "sql" / "usecases" / "flight_cancellation" / "batch.sql").read_text()
    lines = original.splitlines()
    broken_at = lines.index("        carrier,")  # the first column list of the batch query
    lines[broken_at] = "        carrier carrier carrier,"  # a syntax error on this line
    toml, sql = _declared_with(path, tmp_path, "\n".join(lines) + "\n")
    assert main(["score", "--date", "2013-10-09", "--usecase", str(toml), "--run-id", "hostile-syntax"]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and len(err) < 400, err
    assert err.startswith(
        "batchscore score: validation failed for 2013-10-09: the batch query "
        f"({sql} line {broken_at + 1}, key 'sql.batch') fails: "
    ), err
    assert [r["status"] for r in ledger(source, "hostile-syntax")] == ["rejected"]


def test_a_source_column_turned_to_text_is_one_line_and_a_rejection(champion, source, capsys):
    with source.begin() as conn:
        conn.execute(sa.text("alter table source.weather alter column temp type text using temp::text"))
    try:
        assert main(["score", "--date", "2013-10-10", "--run-id", "hostile-text-column"]) == 1
    finally:
        with source.begin() as conn:
            conn.execute(
                sa.text(
                    "alter table source.weather alter column temp type double precision using temp::double precision"
                )
            )
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and len(err) < 400, err
    assert re.search(
        r"the batch query \(sql/usecases/flight_cancellation/batch.sql line \d+, key 'sql.batch'\) "
        r"fails: function avg\(text\) does not exist",
        err,
    ), err
    assert [r["status"] for r in ledger(source, "hostile-text-column")] == ["rejected"]


def test_a_rejection_through_batchscore_run_prints_the_reason_not_a_traceback(champion, source):
    code = "import sys; from pipeline.cli import main; sys.exit(main(sys.argv[1:]))"
    env = {k: v for k, v in os.environ.items() if k != "AIRFLOW__LOGGING__LOGGING_LEVEL"}
    run = subprocess.run(
        [sys.executable, "-c", code, "run", "flight_cancellation__score", "--date", "2014-03-02"],
        cwd=project_root(),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = [line for line in (run.stdout + run.stderr).splitlines() if line.strip()]
    assert run.returncode == 1
    assert "Traceback" not in run.stderr and len(output) <= 3, output
    assert any(line.startswith("validation failed for 2014-03-02: batch is empty (0 rows)") for line in output)


def test_only_runs_in_this_process_quiet_airflows_log_and_batchscore_airflow_keeps_its_own(source, monkeypatch):
    from pipeline.orchestration import local as airflow_local

    monkeypatch.delenv("AIRFLOW__LOGGING__LOGGING_LEVEL", raising=False)
    seen: dict = {}

    def standalone(port: int) -> int:
        seen["level"] = os.environ.get("AIRFLOW__LOGGING__LOGGING_LEVEL")
        return 0

    monkeypatch.setattr(airflow_local, "standalone", standalone)
    assert main(["airflow", "--port", "8095"]) == 0
    assert seen == {"level": None}  # standalone then sets INFO for its servers


def test_example_values_in_a_failure_line_are_cut_and_dates_are_iso():
    from pipeline.validation.checks import CheckResult, describe

    long_value = CheckResult(
        "expect_column_values_to_be_in_set",
        "dest",
        "critical",
        False,
        kind=None,
        unexpected_count=1,
        partial_unexpected=["x" * 100_000],
    )
    assert len(describe(long_value)) < 200 and "100,002 characters" in describe(long_value)
    moment = CheckResult(
        "expect_column_values_to_be_between",
        "sched_dep_utc",
        "critical",
        False,
        kind="event_time",
        unexpected_count=1,
        kwargs={"min_value": "a", "max_value": "b"},
        partial_unexpected=[dt.datetime(2013, 7, 1, 5, 30, tzinfo=dt.UTC)],
    )
    assert "e.g. 2013-07-01T05:30:00+00:00" in describe(moment)


# 8 --------------------------------------------------------------------------------------------------------------


def test_a_database_url_with_an_unescaped_at_sign_is_refused_without_showing_any_of_the_password(monkeypatch, capsys):
    monkeypatch.setenv("BATCHSCORE_DATABASE_URL", "postgresql://writer:p@ssw0rd!x@db.example:5432/scores")
    assert main(["db", "url"]) == 1
    err = capsys.readouterr().err
    assert "unescaped '@'" in err and "%40" in err
    assert "ssw0rd" not in err and "p@s" not in err


# 9 --------------------------------------------------------------------------------------------------------------


def test_a_volume_band_that_cannot_run_is_recorded_as_skipped_with_its_reason(champion, source, caplog):
    import logging

    caplog.set_level(logging.WARNING, logger="pipeline.validation.gate")
    tasks.run_night("2013-12-20", "hostile-skipped-band")  # no published date in the 28 days before
    with source.connect() as conn:
        rows = conn.execute(
            sa.text(
                "select success, error from batchscore.validation_results "
                "where run_id = 'hostile-skipped-band' and check_kind = 'row_count_band'"
            )
        ).all()
    assert len(rows) == 1 and rows[0].success is None
    assert rows[0].error.startswith(
        "skipped: the volume band needs 3 dates published in the 28 days before 2013-12-20, found "
    )
    assert any("validation skipped for 2013-12-20: row_count_band" in r.message for r in caplog.records)


# 10 -------------------------------------------------------------------------------------------------------------


def _psql() -> str:
    """A psql client: the system's, else the one pgserver's wheel ships with the server (so the test never skips)."""
    import shutil

    import pgserver

    found = shutil.which("psql") or str(Path(pgserver.__file__).parent / "pginstall" / "bin" / "psql")
    assert Path(found).is_file(), found
    return found


def test_the_embedded_server_serves_bi_tools_over_tcp_with_a_checked_password(tmp_path, monkeypatch, capsys):
    """psql over TCP as the BI role: a wrong password is refused, the views are readable, the tables are not."""
    from pipeline.db.bi import BI_ROLE, set_login_password
    from pipeline.db.engine import start_embedded
    from pipeline.db.migrations import migrate
    from tests.helpers import stop_cluster

    pgdata = tmp_path / "tcp" / "pgdata"
    monkeypatch.setenv("BATCHSCORE_HOME", str(tmp_path / "tcp"))
    monkeypatch.delenv("BATCHSCORE_DATABASE_URL", raising=False)  # the session's database, when a fixture set it
    monkeypatch.setenv("BATCHSCORE_EMBEDDED_TCP_PORT", "0")
    url = start_embedded(pgdata)  # stopped below: pgserver's own exit handler would find it stopped already
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        migrate(engine)
        with engine.begin() as conn:
            set_login_password(conn, BI_ROLE, "bi-Tcp-Pw-7313")
        port = int((tmp_path / "tcp" / "embedded_tcp_port").read_text())
        assert port and url.query.get("port") == str(port)  # the socket carries the port in its name
        assert main(["db", "status"]) == 0
        assert capsys.readouterr().out.splitlines()[-1] == (
            f"BI tools over TCP: postgresql://batchscore_bi@127.0.0.1:{port}/batchscore "
            "(password: BATCHSCORE_BI_PASSWORD)"
        )

        def psql(password: str, sql: str, user: str = BI_ROLE) -> subprocess.CompletedProcess:
            env = {**os.environ, "PGPASSWORD": password}
            return subprocess.run(
                [_psql(), "-h", "127.0.0.1", "-p", str(port), "-U", user, "-d", "batchscore", "-Atc", sql],
                capture_output=True,
                text=True,
                timeout=60,
                env=env,
            )

        wrong = psql("not-the-password", "select 1")
        assert wrong.returncode != 0 and "password authentication failed" in wrong.stderr
        assert psql("", "select 1", user="postgres").returncode != 0  # no password, no TCP login
        view = psql("bi-Tcp-Pw-7313", "select count(*) from batchscore.v_promotions")
        assert view.returncode == 0 and view.stdout.strip() == "0", view.stderr
        table = psql("bi-Tcp-Pw-7313", "select count(*) from batchscore.scoring_runs")
        assert table.returncode != 0 and "permission denied" in table.stderr
    finally:
        engine.dispose()
        from pipeline.db.engine import dispose_engines

        dispose_engines()
        stop_cluster(pgdata)


def test_the_local_airflow_picks_free_log_server_ports_and_refuses_a_busy_ui_port(tmp_path):
    import socket

    from pipeline.errors import ConfigError
    from pipeline.orchestration.local import check_ui_port, standalone_env

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 8793))  # the worker log server's default port, taken by another Airflow
        busy.listen()
        env = standalone_env(tmp_path, 8090)
        ports = {
            int(env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"]),
            int(env["AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT"]),
        }
        assert 8793 not in ports and len(ports) == 2
        with pytest.raises(ConfigError, match="port 8793 is in use"):
            check_ui_port(8793)
