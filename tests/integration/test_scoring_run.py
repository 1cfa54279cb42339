"""The five stages without Airflow: publish is idempotent and atomic, bad models and bad batches stop it."""

import dataclasses
import datetime as dt
import os
import shutil

import pytest
import sqlalchemy as sa

from pipeline import tasks
from pipeline.cli import main
from pipeline.model.artifacts import ModelError, load_artifact, resolve_artifact
from pipeline.model.registry import get_champion
from pipeline.validation.checks import ValidationFailed
from tests.helpers import flights_on, ledger, predictions_fingerprint

DAY = dt.date(2013, 7, 14)


def test_a_run_publishes_one_prediction_per_flight_with_its_ledger_row(champion, source):
    result = tasks.run_night(DAY.isoformat(), "run-basic")
    expected = flights_on(source, DAY)
    assert result["rows"] == expected
    count, _, run_ids = predictions_fingerprint(source, DAY)
    assert (count, run_ids) == (expected, "run-basic")
    [row] = ledger(source, "run-basic")
    assert row["status"] == "succeeded" and row["rows_in"] == row["rows_out"] == expected
    assert row["model_version"] == champion.version and row["model_sha256"] == champion.artifact_sha256
    assert row["validation_status"] in ("passed", "passed_with_warnings")
    assert set(row["timings"]) == {"extract", "validate", "build_features", "score", "publish"}
    with source.connect() as conn:
        wrong_labels = conn.execute(
            sa.text(
                "select count(*) from batchscore.predictions where score_date = :d "
                "and predicted_label <> (score >= threshold)"
            ),
            {"d": DAY},
        ).scalar()
        leftovers = conn.execute(
            sa.text(
                "select count(*) from pg_tables where schemaname = 'batchscore_staging' and tablename like '%20130714%'"
            )
        ).scalar()
    assert wrong_labels == 0 and leftovers == 0


def test_scoring_the_same_date_twice_gives_identical_rows(champion, source):
    tasks.run_night(DAY.isoformat(), "run-idem-1")
    first = predictions_fingerprint(source, DAY)
    tasks.run_night(DAY.isoformat(), "run-idem-2")
    second = predictions_fingerprint(source, DAY)
    assert first[:2] == second[:2] and first[0] == flights_on(source, DAY)
    assert second[2] == "run-idem-2"


def test_chunk_size_does_not_change_the_predictions(champion, source, monkeypatch):
    import math

    tasks.run_night(DAY.isoformat(), "run-big-chunks")
    big = predictions_fingerprint(source, DAY)
    monkeypatch.setenv("BATCHSCORE_CHUNK_ROWS", "97")
    batch = tasks.extract(DAY.isoformat(), "run-small-chunks")
    validation, features = tasks.validate(batch), tasks.build_features(batch)
    scores = tasks.score(batch)
    tasks.publish(batch, validation, features, scores, tasks.shadow_score(batch))
    assert scores["chunks"] == math.ceil(flights_on(source, DAY) / 97)  # really streamed, 97 rows at a time
    assert predictions_fingerprint(source, DAY)[:2] == big[:2]


def test_a_failure_at_commit_after_the_partition_swap_leaves_the_date_untouched(champion, source):
    tasks.run_night(DAY.isoformat(), "run-before-failure")
    before = predictions_fingerprint(source, DAY)
    with source.begin() as conn:  # a deferred trigger on the ledger row fails at COMMIT, after every statement
        conn.execute(
            sa.text("""
            create function batchscore.inject_failure() returns trigger language plpgsql as $$
            begin
                if new.run_id like 'inject%' and new.status = 'succeeded' then
                    raise exception 'injected failure before commit';
                end if;
                return new;
            end $$;
            create constraint trigger inject_failure after insert on batchscore.scoring_runs
                deferrable initially deferred for each row execute function batchscore.inject_failure();
        """)
        )
    try:
        with pytest.raises(sa.exc.InternalError, match="injected failure"):
            tasks.run_night(DAY.isoformat(), "inject-1")
    finally:
        with source.begin() as conn:
            conn.execute(
                sa.text(
                    "drop trigger inject_failure on batchscore.scoring_runs; drop function batchscore.inject_failure()"
                )
            )
    assert predictions_fingerprint(source, DAY) == before
    [row] = ledger(source, "inject-1")
    assert row["status"] == "failed" and "injected failure" in row["reason"]


def test_a_tampered_model_artifact_is_refused_and_nothing_is_published(champion, source):
    tasks.run_night(DAY.isoformat(), "run-before-tamper")
    before = predictions_fingerprint(source, DAY)
    path = resolve_artifact(champion.artifact_path)
    original = path.read_bytes()
    path.chmod(0o644)
    path.write_bytes(original + b"tampered")
    try:
        with pytest.raises(ModelError, match="refusing to load a modified artifact"):
            tasks.run_night(DAY.isoformat(), "run-tampered")
    finally:
        path.write_bytes(original)
        path.chmod(0o444)
    assert predictions_fingerprint(source, DAY) == before
    assert ledger(source, "run-tampered")[0]["status"] == "failed"


def test_a_model_from_another_scikit_learn_version_needs_an_explicit_override(champion, source):
    other = dataclasses.replace(get_champion(source, champion.use_case), sklearn_version="0.24.2")
    with pytest.raises(ModelError, match="trained with scikit-learn 0.24.2"):
        load_artifact(other)
    assert load_artifact(other, allow_sklearn_mismatch=True) is not None


def test_a_batch_with_duplicate_entities_is_rejected_and_the_date_kept(champion, source):
    day = dt.date(2013, 7, 15)
    tasks.run_night(day.isoformat(), "run-before-dup")
    before = predictions_fingerprint(source, day)
    with source.begin() as conn:
        conn.execute(
            sa.text(
                "insert into source.flights (year, month, day, dep_time, sched_dep_time, dep_delay, arr_time, "
                "sched_arr_time, arr_delay, carrier, flight, tailnum, origin, dest, air_time, distance, hour, minute, "
                "time_hour) select year, month, day, dep_time, sched_dep_time, dep_delay, arr_time, sched_arr_time, "
                "arr_delay, carrier, flight, tailnum, origin, dest, air_time, distance, hour, minute, time_hour "
                "from source.flights where flight_date = :d order by carrier, flight limit 2"
            ),
            {"d": day},
        )
    try:
        with pytest.raises(ValidationFailed, match=r"for 2013-07-15: entity_id not unique \(4 rows share a value\)"):
            tasks.run_night(day.isoformat(), "run-dup")
    finally:
        with source.begin() as conn:
            conn.execute(
                sa.text(
                    "delete from source.flights f using (select ctid, row_number() over (partition by carrier, "
                    "flight, origin order by ctid) as n from source.flights where flight_date = :d) d "
                    "where f.ctid = d.ctid and d.n > 1"
                ),
                {"d": day},
            )
    assert predictions_fingerprint(source, day) == before
    [row] = ledger(source, "run-dup")
    assert row["status"] == "rejected" and "entity_id not unique" in row["reason"]
    tasks.run_night(day.isoformat(), "run-after-fix")  # fixed data publishes normally
    assert predictions_fingerprint(source, day)[0] == flights_on(source, day)


def test_cli_score_exits_non_zero_with_the_reason_for_a_date_without_data(champion, capsys):
    assert main(["score", "--date", "2014-03-01"]) == 1
    assert "validation failed for 2014-03-01: batch is empty (0 rows)" in capsys.readouterr().err


def test_cli_db_url_never_prints_a_password(monkeypatch, capsys):
    monkeypatch.setenv("BATCHSCORE_DATABASE_URL", "postgresql://pipeline:s3cret-pw@db.example:5432/scores")
    assert main(["db", "url"]) == 0
    out = capsys.readouterr().out.strip()
    assert out == "postgresql+psycopg2://pipeline:***@db.example:5432/scores"
    assert main(["db", "url", "--show-password"]) == 0
    assert "s3cret-pw" in capsys.readouterr().out


def test_a_second_use_case_runs_from_config_and_sql_alone(source, monkeypatch):
    from pipeline.config.loading import load_usecase
    from pipeline.model.train import train_and_register

    monkeypatch.setenv("BATCHSCORE_USECASE", "departure_disruption")
    uc = load_usecase()
    assert os.environ["BATCHSCORE_USECASE"] == uc.name
    mv = train_and_register(source, uc, created_by="tests")
    assert mv.status == "champion" and mv.holdout_metrics["roc_auc"] > 0.6
    day = dt.date(2013, 6, 3)
    tasks.run_night(day.isoformat(), "run-second-uc")
    count, _, _ = predictions_fingerprint(source, day, "batchscore.departure_disruption_predictions")
    assert count == flights_on(source, day)


def test_a_failure_mid_stream_stops_the_copy_threads_and_raises(champion, source, usecase):
    import threading

    import adbc_driver_postgresql.dbapi as adbc
    import numpy as np
    from tqdm import tqdm

    from pipeline.db.staging import drop_staging, staging_tables
    from pipeline.scoring.extract import extract_batch
    from pipeline.scoring.features import build_features
    from pipeline.scoring.stream import adbc_uri, arrow_select, stream_scores

    class BreaksOnThirdChunk:
        calls = 0

        def predict_proba(self, x):
            BreaksOnThirdChunk.calls += 1
            if BreaksOnThirdChunk.calls == 3:
                raise RuntimeError("model blew up mid-stream")
            return np.column_stack([np.full(len(x), 0.9), np.full(len(x), 0.1)])

    day, run = dt.date(2013, 7, 16), "stream-failure"
    extract_batch(source, usecase, day, run)
    build_features(source, usecase, day, run)
    tables = staging_tables(usecase.name, day, run)
    threads_before = threading.active_count()
    with source.begin() as conn:
        conn.execute(
            sa.text(f"create table {tables.scores} (entity_id text, score double precision, predicted_label boolean)")
        )
    reader, writer = adbc.connect(adbc_uri(source)), adbc.connect(adbc_uri(source))
    try:
        with pytest.raises(RuntimeError, match="model blew up mid-stream"):
            stream_scores(
                reader,
                writer,
                arrow_select(tables.features, usecase),
                ("batchscore_staging", tables.names["scores"]),
                BreaksOnThirdChunk(),
                usecase,
                0.5,
                50,
                tqdm(disable=True),
            )
        writer.rollback()
    finally:
        reader.close()
        writer.close()
    assert threading.active_count() == threads_before
    assert BreaksOnThirdChunk.calls == 3
    with source.connect() as conn:  # nothing of the broken stream was committed
        assert conn.execute(sa.text(f"select count(*) from {tables.scores}")).scalar() == 0
    drop_staging(source, tables)


@pytest.mark.skipif(shutil.which("psql") is None, reason="the PostgreSQL client psql is not installed")
def test_cli_db_url_gives_the_libpq_form_psql_takes(database_url, capsys):
    import subprocess

    assert main(["db", "url", "--libpq", "--show-password"]) == 0
    url = capsys.readouterr().out.strip()
    assert url.startswith("postgresql://") and "+psycopg2" not in url
    psql = subprocess.run(["psql", url, "-Atc", "select 42"], capture_output=True, text=True, timeout=60)
    assert psql.returncode == 0 and psql.stdout.strip() == "42", psql.stderr
