"""Publish swaps a date's partition: one partition per published date, a re-run replaces it and leaves
nothing behind, a duplicate entity is refused, and a table made before partitioning is converted in place
of itself with every row and view kept."""

import datetime as dt
import re
import threading
import time

import pytest
import sqlalchemy as sa

from pipeline import tasks
from pipeline.config.loading import load_usecase, with_overrides
from pipeline.db.bi import apply_usecase_view_files
from pipeline.db.predictions import PublishError, ensure_predictions_table, partition_name
from pipeline.db.staging import staging_tables
from pipeline.scoring import publish as publish_module
from tests.helpers import flights_on, ledger, predictions_fingerprint

DAYS = (dt.date(2013, 10, 14), dt.date(2013, 10, 15))


def partitions(engine, table: str = "batchscore.predictions") -> dict[str, str]:
    """partition name -> its bound, e.g. {'predictions_20131014': "FOR VALUES IN ('2013-10-14')"}."""
    with engine.connect() as conn:
        return dict(
            conn.execute(
                sa.text(
                    "select c.relname, pg_get_expr(c.relpartbound, c.oid) from pg_inherits i "
                    "join pg_class c on c.oid = i.inhrelid where i.inhparent = cast(:t as regclass)"
                ),
                {"t": table},
            ).all()
        )


def tables_named(engine, pattern: str) -> list[str]:
    with engine.connect() as conn:
        return (
            conn.execute(
                sa.text("select schemaname || '.' || tablename from pg_tables where tablename like :p order by 1"),
                {"p": pattern},
            )
            .scalars()
            .all()
        )


def test_each_published_date_is_one_partition_and_a_rerun_replaces_it_leaving_nothing_behind(champion, source):
    for day in DAYS:
        tasks.run_night(day.isoformat(), f"part-{day:%d}")
    found = partitions(source)
    for day in DAYS:
        assert found[partition_name(load_usecase("flight_cancellation"), day)] == f"FOR VALUES IN ('{day}')"
    first = predictions_fingerprint(source, DAYS[0])
    assert first[0] == flights_on(source, DAYS[0]) and first[2] == "part-14"

    tasks.run_night(DAYS[0].isoformat(), "part-14-again")
    again = predictions_fingerprint(source, DAYS[0])
    assert again == (first[0], first[1], "part-14-again")  # same content, the new run's rows, no duplicates
    assert partitions(source) == found  # the same partition names and bounds: the old one was dropped
    assert tables_named(source, "%20131014%") == ["batchscore.predictions_20131014"]  # no staging left
    with source.connect() as conn:  # every partition has the key, so the date really is one row per entity
        keyed = conn.execute(
            sa.text(
                "select count(*) from pg_index x join pg_inherits i on i.inhrelid = x.indrelid "
                "where i.inhparent = 'batchscore.predictions'::regclass and x.indisprimary"
            )
        ).scalar()
    assert keyed == len(found)


def test_a_duplicate_entity_in_the_staged_predictions_is_refused_and_the_date_kept(champion, source):
    day = DAYS[1]
    tasks.run_night(day.isoformat(), "dup-before")
    before = predictions_fingerprint(source, day)
    batch = tasks.extract(day.isoformat(), "dup-run")
    validation = tasks.validate(batch)
    features = tasks.build_features(batch)
    scores = tasks.score(batch)
    staged = staging_tables("flight_cancellation", day, "dup-run").scores
    with source.begin() as conn:  # one entity twice, in place of another
        conn.execute(
            sa.text(
                f"update {staged} set entity_id = (select min(entity_id) from {staged}) "
                f"where entity_id = (select max(entity_id) from {staged})"
            )
        )
    with pytest.raises(PublishError, match=r"scores for \d+ entities \(an entity scored twice\); nothing published"):
        tasks.publish(batch, validation, features, scores)
    assert predictions_fingerprint(source, day) == before


def test_a_publish_retried_after_its_commit_is_a_no_op_and_one_whose_scores_are_gone_is_refused(champion, source):
    day = DAYS[1]
    batch = tasks.extract(day.isoformat(), "retry-run")
    validation = tasks.validate(batch)
    features = tasks.build_features(batch)
    scores = tasks.score(batch)
    tasks.publish(batch, validation, features, scores)
    published = predictions_fingerprint(source, day)
    assert published[2] == "retry-run"
    # the task died after the commit: Airflow runs publish again with the same run id
    again = tasks.publish(batch, validation, features, scores)
    assert again["rows"] == published[0]
    assert predictions_fingerprint(source, day) == published

    other = tasks.extract(day.isoformat(), "scores-lost")
    other_validation = tasks.validate(other)
    other_features = tasks.build_features(other)
    other_scores = tasks.score(other)
    with source.begin() as conn:
        conn.execute(sa.text(f"drop table {staging_tables('flight_cancellation', day, 'scores-lost').scores}"))
    with pytest.raises(PublishError, match=r"staged scores are gone .*re-run its score task; nothing published"):
        tasks.publish(other, other_validation, other_features, other_scores)
    assert predictions_fingerprint(source, day) == published


LEGACY_DDL = """
create table {t} (
    score_date date not null, entity_id text not null,
    score double precision not null check (score >= 0 and score <= 1), predicted_label boolean not null,
    threshold double precision not null, model_version text not null, run_id text not null,
    scored_at timestamptz not null, primary key (score_date, entity_id));
create index on {t} (entity_id, score_date desc);
insert into {t}
select d::date, 'E' || n, n / 100.0, n >= 50, 0.5, 'v1', 'legacy-' || to_char(d, 'DD'), now()
from generate_series(date '2013-01-01', date '2013-01-03', interval '1 day') as d, generate_series(1, 99) as n;
"""


@pytest.fixture
def legacy_usecase(engine):
    """A use case whose predictions table was made by the version before partitioning (views included)."""
    uc = with_overrides(
        load_usecase("flight_cancellation"),
        {"name": "legacy_case", "output.predictions_table": "legacy_predictions", "output.views_prefix": "v_legacy_"},
    )
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "drop view if exists batchscore.v_legacy_custom, batchscore.v_legacy_latest_predictions,"
                " batchscore.v_legacy_daily_summary; drop table if exists batchscore.legacy_predictions "
                "cascade"
            )
        )
        conn.execute(sa.text(LEGACY_DDL.format(t="batchscore.legacy_predictions")))
        apply_usecase_view_files(conn, uc)
    yield uc
    with engine.begin() as conn:
        conn.execute(sa.text("drop table if exists batchscore.legacy_predictions cascade"))


def test_an_unpartitioned_table_from_an_earlier_version_is_converted_with_its_rows_and_views(engine, legacy_usecase):
    table = "batchscore.legacy_predictions"
    days = [dt.date(2013, 1, d) for d in (1, 2, 3)]
    before = [predictions_fingerprint(engine, d, table) for d in days]
    with engine.begin() as conn:
        ensure_predictions_table(conn, legacy_usecase)
    with engine.connect() as conn:
        kind = conn.execute(
            sa.text("select relkind from pg_class where oid = cast(:t as regclass)"), {"t": table}
        ).scalar()
        latest = conn.execute(
            sa.text("select count(*), min(score_date) from batchscore.v_legacy_latest_predictions")
        ).one()
        depends = conn.execute(
            sa.text(
                "select count(*) from pg_depend d join pg_rewrite r on r.oid = d.objid "
                "where d.refobjid = cast(:t as regclass) "
                "and r.ev_class = 'batchscore.v_legacy_latest_predictions'::regclass"
            ),
            {"t": table},
        ).scalar()
    assert kind == "p"
    assert sorted(partitions(engine, table)) == [f"legacy_predictions_2013010{d}" for d in (1, 2, 3)]
    assert [predictions_fingerprint(engine, d, table) for d in days] == before
    assert tuple(latest) == (99, dt.date(2013, 1, 3))  # the view reads the new table
    assert depends > 0
    assert tables_named(engine, "legacy_predictions") == ["batchscore.legacy_predictions"]  # old one dropped
    with engine.begin() as conn:  # a second call changes nothing
        ensure_predictions_table(conn, legacy_usecase)
    assert [predictions_fingerprint(engine, d, table) for d in days] == before


def test_conversion_refuses_clearly_and_changes_nothing_when_a_foreign_view_depends_on_the_table(
    engine, legacy_usecase
):
    table = "batchscore.legacy_predictions"
    with engine.begin() as conn:
        conn.execute(sa.text(f"create view batchscore.v_legacy_custom as select entity_id from {table}"))
    before = predictions_fingerprint(engine, dt.date(2013, 1, 2), table)
    with (
        pytest.raises(
            PublishError,
            match=r"cannot convert .*legacy_predictions.* objects batchscore does not "
            r"manage depend on it .*v_legacy_custom",
        ),
        engine.begin() as conn,
    ):
        ensure_predictions_table(conn, legacy_usecase)
    with engine.connect() as conn:
        kind = conn.execute(
            sa.text("select relkind from pg_class where oid = cast(:t as regclass)"), {"t": table}
        ).scalar()
    assert kind == "r"
    assert predictions_fingerprint(engine, dt.date(2013, 1, 2), table) == before


def test_partition_names_stay_within_63_characters_and_distinct(usecase):
    long_a = with_overrides(usecase, {"output.predictions_table": "p" * 60})
    long_b = with_overrides(usecase, {"output.predictions_table": "p" * 59 + "q"})
    day = dt.date(2024, 2, 29)
    assert partition_name(usecase, day) == "predictions_20240229"
    names = {partition_name(long_a, day), partition_name(long_b, day)}
    assert len(names) == 2 and all(len(n) <= 63 and n.endswith("_20240229") for n in names)


def scored_run(day: dt.date, run_id: str, shards: int = 1):
    """A run extracted, validated, featured and scored, ready to publish: (batch, validation, features, scores)."""
    batch = tasks.extract(day.isoformat(), run_id)
    validation, features = tasks.validate(batch), tasks.build_features(batch, shards=shards)
    scores = [tasks.score(batch, shard) for shard in tasks.shard_plan(features)]
    return batch, validation, features, scores


def test_a_reader_holding_the_table_delays_the_swap_in_short_tries_without_stalling_other_readers(
    champion, source, monkeypatch
):
    day = DAYS[0]
    tasks.run_night(day.isoformat(), "busy-before")
    before = predictions_fingerprint(source, day)
    run = scored_run(day, "busy-run")
    holder = source.connect()  # a BI session left idle in a transaction that read the predictions
    holder_pid = holder.execute(sa.text("select pg_backend_pid()")).scalar_one()
    assert predictions_fingerprint(holder, day) == before

    def publish_in_thread() -> tuple[threading.Thread, dict]:
        outcome: dict = {}

        def target() -> None:
            try:
                outcome["result"] = tasks.publish(*run)
            except Exception as exc:  # handed to the test thread
                outcome["error"] = exc

        thread = threading.Thread(target=target)
        thread.start()
        return thread, outcome

    def read_while(thread: threading.Thread) -> list[float]:
        """Other readers' queries while publish waits: each under a 6 s statement timeout (publish holding
        its place in the lock queue for as long as the idle session lasts would make them fail)."""
        latencies = []
        while thread.is_alive():
            with source.connect() as reader:
                reader.execute(sa.text("set statement_timeout = '6s'"))
                started = time.monotonic()
                reader.execute(sa.text("select count(*) from batchscore.predictions where score_date = :d"), {"d": day})
                latencies.append(time.monotonic() - started)
            time.sleep(0.2)
        return latencies

    try:
        monkeypatch.setenv("BATCHSCORE_PUBLISH_LOCK_WAIT", "5")
        thread, outcome = publish_in_thread()
        latencies = read_while(thread)
        thread.join()
        assert isinstance(outcome.get("error"), PublishError), outcome
        assert re.search(
            rf"could not swap the date's partition of .*predictions.* in 5 s \(\d+ tries\): "
            rf"pid {holder_pid} \(idle in transaction.*the date's predictions are unchanged",
            str(outcome["error"]),
        )
        assert latencies and max(latencies) < 5  # every other reader got through while publish waited
        assert predictions_fingerprint(source, day) == before
        assert ledger(source, "busy-run") == []

        monkeypatch.setenv("BATCHSCORE_PUBLISH_LOCK_WAIT", "120")
        thread, outcome = publish_in_thread()
        time.sleep(3)
        holder.rollback()  # the idle session ends: the next try swaps
        thread.join(timeout=120)
        assert "result" in outcome, outcome
    finally:
        holder.close()
    after = predictions_fingerprint(source, day)
    assert after == (before[0], before[1], "busy-run")
    assert [row["status"] for row in ledger(source, "busy-run")] == ["succeeded"]


def test_a_sharded_publish_retried_after_its_commit_is_a_no_op(champion, source, monkeypatch):
    day = DAYS[1]
    run = scored_run(day, "sharded-retry", shards=2)
    real_drop = publish_module.drop_staging

    def dies_after_commit(engine, tables):
        raise RuntimeError("the task died after its commit")

    monkeypatch.setattr(publish_module, "drop_staging", dies_after_commit)
    with pytest.raises(RuntimeError, match="died after its commit"):
        tasks.publish(*run)
    published = predictions_fingerprint(source, day)
    assert published[2] == "sharded-retry"
    monkeypatch.setattr(publish_module, "drop_staging", real_drop)
    again = tasks.publish(*run)  # Airflow's retry, same run id
    assert again["rows"] == published[0] and again["replaced"] == 0
    assert predictions_fingerprint(source, day) == published
    assert [row["status"] for row in ledger(source, "sharded-retry")] == ["succeeded"]  # one ledger row


def test_concurrent_shard_tasks_create_or_convert_the_predictions_table_once(engine, legacy_usecase):
    table = "batchscore.legacy_predictions"
    days = [dt.date(2013, 1, d) for d in (1, 2, 3)]
    before = [predictions_fingerprint(engine, d, table) for d in days]
    fresh = with_overrides(
        legacy_usecase,
        {"name": "fresh_case", "output.predictions_table": "fresh_predictions", "output.views_prefix": "v_fresh_"},
    )
    with engine.begin() as conn:
        conn.execute(sa.text("drop table if exists batchscore.fresh_predictions cascade"))
    start = threading.Barrier(6)
    errors: list[BaseException] = []

    def ensure(uc) -> None:
        try:
            start.wait()
            with engine.begin() as conn:
                ensure_predictions_table(conn, uc)
        except BaseException as exc:  # collected for the test thread
            errors.append(exc)

    threads = [threading.Thread(target=ensure, args=(uc,)) for uc in [legacy_usecase] * 3 + [fresh] * 3]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        with engine.connect() as conn:
            kinds = conn.execute(
                sa.text(
                    "select relname, relkind from pg_class where oid in "
                    "(to_regclass('batchscore.legacy_predictions'), to_regclass('batchscore.fresh_predictions'))"
                )
            ).all()
        assert sorted(kinds) == [("fresh_predictions", "p"), ("legacy_predictions", "p")]
        assert [predictions_fingerprint(engine, d, table) for d in days] == before
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("drop table if exists batchscore.fresh_predictions cascade"))
