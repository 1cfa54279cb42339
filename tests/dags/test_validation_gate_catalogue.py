"""The bad-input catalogue: each class of bad data is injected into the source for one date, the night is scored
for that date, and the outcome is pinned down.

critical: the run fails, the reason names the problem, the date gets no predictions, earlier dates stay intact
and the ledger says `rejected`. warning: the run succeeds and the failed check is recorded with its severity.
Most cases run the pipeline's steps directly (what every task of a scoring DAG calls); a few go through Airflow to pin
down how a rejection maps onto the DAG run (the task that fails, the reason, the ledger).
"""

from __future__ import annotations

import datetime as dt
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
import sqlalchemy as sa

from pipeline import tasks
from pipeline.orchestration import local as airflow_local
from tests.helpers import flights_on, ledger, predictions_fingerprint

HISTORY = [dt.date(2013, 8, d) for d in (1, 2, 3, 4)]  # published first: the row-count band needs history
_next_day = iter(dt.date(2013, 8, 5) + dt.timedelta(days=i) for i in range(40))


@pytest.fixture(scope="module")
def history(champion, source):
    for day in HISTORY:
        tasks.run_night(day.isoformat(), f"history-{day}")
    return {day: predictions_fingerprint(source, day) for day in HISTORY}


@pytest.fixture
def day(history):
    return next(_next_day)


def _columns(conn, table: str) -> str:
    names = (
        conn.execute(
            sa.text(
                "select column_name from information_schema.columns where table_schema = 'source' "
                "and table_name = :t and is_generated = 'NEVER' order by ordinal_position"
            ),
            {"t": table},
        )
        .scalars()
        .all()
    )
    return ", ".join(names)


@contextmanager
def patched(engine, table: str, where: str, params: dict, *statements: str):
    """Change rows of source.<table> matching `where` (committed, so the run sees it), restore them after."""
    backup = f"source._backup_{table}"
    with engine.begin() as conn:
        conn.execute(sa.text(f"create table {backup} as select * from source.{table} where {where}"), params)
        for statement in statements:
            conn.execute(sa.text(statement), params)
    try:
        yield
    finally:
        with engine.begin() as conn:
            cols = _columns(conn, table)
            conn.execute(sa.text(f"delete from source.{table} where {where}"), params)
            conn.execute(sa.text(f"insert into source.{table} ({cols}) select {cols} from {backup}"))
            conn.execute(sa.text(f"drop table {backup}"))


@contextmanager
def ddl(engine, apply: str, undo: str):
    with engine.begin() as conn:
        conn.execute(sa.text(apply))
    try:
        yield
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(undo))


FLIGHTS_OF = "flight_date = :d"
WEATHER_OF = "time_hour >= cast(:d as date) and time_hour < cast(:d as date) + 2"


def assert_rejected(engine, history, day, outcome, *phrases):
    assert outcome.state == "failed", outcome.summary()
    assert outcome.failed_tasks[0] in ("extract", "validate")
    for phrase in phrases:
        assert phrase in outcome.reason, outcome.reason
    assert outcome.reason.startswith(f"validation failed for {day.isoformat()}: ")
    assert predictions_fingerprint(engine, day)[0] == 0
    assert {d: predictions_fingerprint(engine, d) for d in HISTORY} == history
    assert [r["status"] for r in ledger(engine, outcome.run_id)] == ["rejected"]


def assert_warned(engine, day, outcome, kind, column):
    assert outcome.succeeded, outcome.summary()
    assert predictions_fingerprint(engine, day)[0] == flights_on(engine, day)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "select severity, success from batchscore.validation_results where run_id = :r "
                "and check_kind = :k and column_name = :c"
            ),
            {"r": outcome.run_id, "k": kind, "c": column},
        ).all()
    assert [tuple(r) for r in rows] == [("warning", False)]
    [run] = ledger(engine, outcome.run_id)
    assert run["validation_status"] == "passed_with_warnings"


@dataclass
class Outcome:
    """How a night ended, in the shape of :class:`pipeline.orchestration.local.RunOutcome`."""

    state: str
    run_id: str
    failed_tasks: list[str] = field(default_factory=list)
    reason: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.state == "success"

    def summary(self) -> str:
        return f"{self.run_id}: {self.state} {self.failed_tasks} {self.reason}"


def run(day):
    """The night's steps directly, in the scoring DAG's order; a failure is reported with the step that raised it."""
    from pipeline.db.engine import get_engine
    from pipeline.db.ledger import last_failure_reason

    run_id, step = f"catalogue-{day}-{uuid.uuid4().hex[:6]}", "extract"
    try:
        batch = tasks.extract(day.isoformat(), run_id)
        step = "validate"
        validation = tasks.validate(batch)
        step = "build_features"
        features = tasks.build_features(batch)
        step = "score"
        scores = [tasks.score(batch, shard) for shard in tasks.shard_plan(features)]
        step = "publish"
        tasks.publish(batch, validation, features, scores, tasks.shadow_score(batch))
    except Exception as exc:
        return Outcome("failed", run_id, [step], last_failure_reason(get_engine(), run_id) or str(exc))
    return Outcome("success", run_id)


def run_through_airflow(day):
    return airflow_local.run_dag("flight_cancellation__score", day)


def test_missing_column(source, history, day):
    with ddl(
        source,
        "alter table source.planes rename to planes_full; "
        "create table source.planes as select tailnum, year, type, manufacturer, model, engines, speed, "
        "engine from source.planes_full",
        "drop table source.planes; alter table source.planes_full rename to planes",
    ):
        outcome = run_through_airflow(day)
    assert outcome.failed_tasks == ["extract"]
    assert_rejected(source, history, day, outcome, "the source no longer fits the batch query", "seats")


def test_renamed_column(source, history, day):
    with ddl(
        source,
        "alter table source.flights rename column distance to distance_miles",
        "alter table source.flights rename column distance_miles to distance",
    ):
        outcome = run(day)
    assert_rejected(source, history, day, outcome, "undefined column", "distance")


def test_column_type_changed(source, history, day):
    with ddl(
        source,
        "alter table source.flights alter column distance type text using distance::text",
        "alter table source.flights alter column distance type double precision using distance::double precision",
    ):
        outcome = run(day)
    assert_rejected(source, history, day, outcome, "distance has type TEXT (declared DOUBLE PRECISION)")


def test_a_column_all_null(source, history, day):
    with patched(
        source, "weather", WEATHER_OF, {"d": day}, f"update source.weather set temp = null where {WEATHER_OF}"
    ):
        outcome = run(day)
    assert_rejected(source, history, day, outcome, "temp is entirely null")


def test_a_null_rate_spike_is_a_warning(source, history, day):
    with patched(
        source,
        "weather",
        WEATHER_OF,
        {"d": day},
        f"update source.weather set temp = null where {WEATHER_OF} and hour % 3 = 0",
    ):
        outcome = run_through_airflow(day)
    assert_warned(source, day, outcome, "null_rate", "temp")


def test_out_of_range_values(source, history, day):
    with patched(
        source,
        "flights",
        FLIGHTS_OF,
        {"d": day},
        "update source.flights set distance = 99999 where ctid in "
        "(select ctid from source.flights where flight_date = :d order by carrier, flight limit 3)",
    ):
        outcome = run_through_airflow(day)
    assert outcome.failed_tasks == ["validate"]
    assert_rejected(source, history, day, outcome, "distance out of range (3 rows, e.g. 99999")


def test_unseen_categories_above_the_ceiling(source, history, day):
    with patched(
        source,
        "flights",
        FLIGHTS_OF,
        {"d": day},
        "update source.flights set dest = 'QQQ' where flight_date = :d and flight % 10 = 0",
    ):
        outcome = run(day)
    assert_rejected(source, history, day, outcome, "dest has categories the model never saw", "'QQQ'")


def test_unseen_categories_below_the_ceiling_pass(source, history, day):
    with patched(
        source,
        "flights",
        FLIGHTS_OF,
        {"d": day},
        "update source.flights set dest = 'QQQ' where ctid in "
        "(select ctid from source.flights where flight_date = :d order by carrier, flight limit 2)",
    ):
        outcome = run(day)
    assert outcome.succeeded, outcome.summary()


def test_duplicate_entity_ids_and_a_rerun_after_the_fix(source, history, day):
    with patched(
        source,
        "flights",
        FLIGHTS_OF,
        {"d": day},
        "insert into source.flights (year, month, day, dep_time, sched_dep_time, dep_delay, arr_time, "
        "sched_arr_time, arr_delay, carrier, flight, tailnum, origin, dest, air_time, distance, hour, minute, "
        "time_hour) select year, month, day, dep_time, sched_dep_time, dep_delay, arr_time, sched_arr_time, "
        "arr_delay, carrier, flight, tailnum, origin, dest, air_time, distance, hour, minute, time_hour "
        "from source.flights where flight_date = :d order by carrier, flight limit 6",
    ):
        outcome = run(day)
    assert_rejected(source, history, day, outcome, "entity_id not unique (12 rows share a value)")
    fixed = run(day)  # the data is fixed: the date publishes normally
    assert fixed.succeeded, fixed.summary()
    assert predictions_fingerprint(source, day)[0] == flights_on(source, day)


def test_null_entity_ids(source, history, day):
    with (
        ddl(
            source,
            "alter table source.flights alter column carrier drop not null",
            "alter table source.flights alter column carrier set not null",
        ),
        patched(
            source,
            "flights",
            FLIGHTS_OF,
            {"d": day},
            "update source.flights set carrier = null where ctid in "
            "(select ctid from source.flights where flight_date = :d order by carrier, flight limit 2)",
        ),
    ):
        outcome = run(day)
    assert_rejected(source, history, day, outcome, "entity_id has nulls (2 rows)")


def test_an_empty_batch(source, history, day):
    with patched(source, "flights", FLIGHTS_OF, {"d": day}, "delete from source.flights where flight_date = :d"):
        outcome = run(day)
    assert_rejected(source, history, day, outcome, "batch is empty (0 rows)")


def test_a_row_count_collapse(source, history, day):
    with patched(
        source,
        "flights",
        FLIGHTS_OF,
        {"d": day},
        "delete from source.flights where flight_date = :d and flight % 10 <> 0",
    ):
        kept = flights_on(source, day)
        outcome = run(day)
    assert_rejected(source, history, day, outcome, f"row count {kept} outside", "trailing mean")


def test_rows_dated_in_the_future(source, history, day):
    with patched(
        source,
        "flights",
        FLIGHTS_OF,
        {"d": day},
        "update source.flights set time_hour = time_hour + interval '30 days' where ctid in "
        "(select ctid from source.flights where flight_date = :d order by carrier, flight limit 3)",
    ):
        outcome = run(day)
    assert_rejected(source, history, day, outcome, "sched_dep_utc dated outside", "(3 rows")


def test_a_source_that_is_not_fresh(source, history, day):
    with patched(
        source,
        "weather",
        "time_hour >= cast(:d as date)",
        {"d": day},
        "delete from source.weather where time_hour >= cast(:d as date)",
    ):
        outcome = run(day)
    assert_rejected(source, history, day, outcome, "source data ends 1 day(s) before the score date")


def test_every_check_of_a_run_is_recorded_as_evidence(source, history, day):
    outcome = run(day)
    assert outcome.succeeded, outcome.summary()
    with source.connect() as conn:
        kinds = set(
            conn.execute(
                sa.text("select distinct check_kind from batchscore.validation_results where run_id = :r"),
                {"r": outcome.run_id},
            ).scalars()
        )
        datasets = set(
            conn.execute(
                sa.text("select distinct dataset from batchscore.validation_results where run_id = :r"),
                {"r": outcome.run_id},
            ).scalars()
        )
    assert {
        "row_count",
        "row_count_band",
        "freshness",
        "entity_id",
        "column_exists",
        "column_type",
        "all_null",
        "null_rate",
        "range",
        "categories",
        "event_time",
        None,
    } <= kinds
    assert datasets == {"batch", "freshness"}
