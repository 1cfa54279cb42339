"""The shipped regression and multiclass use cases (arrival_delay, departure_outcome) against the real source.

For a date, their batch, feature and label queries return the declared columns and the expected rows, the labels
have the kind's type (minutes as numbers; the declared text classes), and nothing observed on the date or the
evening before reaches the batch.
"""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest
import sqlalchemy as sa

from pipeline.config.loading import available_usecases, load_usecase
from pipeline.config.paths import expectations_dir
from pipeline.db.queries import batch_query, features_query, training_query
from tests.helpers import flights_on

DAY = dt.date(2013, 7, 10)
SHIPPED = ("arrival_delay", "departure_outcome")
FORBIDDEN = {"dep_time", "dep_delay", "arr_time", "arr_delay", "air_time", "tailnum"}
#: information_schema's name of each declared type
PG_TYPE_NAMES = {"timestamptz": "timestamp with time zone", "timestamp": "timestamp without time zone"}
CLASSES = {"on_time", "late", "very_late", "cancelled"}


def _query(conn, sql: str, day: dt.date, **params) -> pd.DataFrame:
    return pd.read_sql(sa.text(sql), conn, params={"date_from": day, "date_to": day, **params})


def _labels(conn, uc, day: dt.date) -> pd.DataFrame:
    return _query(conn, uc.query("labels"), day).set_index("entity_id").sort_index()


def _batch(conn, uc, day: dt.date) -> pd.DataFrame:
    return _query(conn, batch_query(uc), day).set_index("entity_id").sort_index()


def _column_types(conn, sql: str, day: dt.date) -> dict[str, str]:
    """The PostgreSQL type of every column the query returns (a temporary table made from it, then dropped)."""
    conn.execute(sa.text(f"create temporary table shipped_probe as {sql}"), {"date_from": day, "date_to": day})
    try:
        rows = conn.execute(
            sa.text(
                "select column_name, data_type from information_schema.columns "
                "where table_name = 'shipped_probe' and table_schema like 'pg_temp%'"
            )
        ).all()
    finally:
        conn.execute(sa.text("drop table shipped_probe"))
    return dict(rows)


def _training_suite_classes(uc) -> set[str]:
    suite = json.loads((expectations_dir() / uc.validation.training_suite).read_text())
    (classes,) = [
        e["kwargs"]["value_set"]
        for e in suite["expectations"]
        if e["type"] == "expect_column_distinct_values_to_equal_set" and e["kwargs"]["column"] == "label"
    ]
    return set(classes)


def test_both_use_cases_load_with_their_kind_and_tables_no_other_use_case_names():
    regression, multiclass = load_usecase("arrival_delay"), load_usecase("departure_outcome")
    assert (regression.target.kind, regression.target.interval, regression.promotion.metric) == (
        "regression",
        0.8,
        "neg_mae",
    )
    assert (multiclass.target.kind, multiclass.promotion.metric) == ("multiclass", "neg_log_loss")
    assert regression.target.threshold is None and multiclass.target.threshold is None
    assert (regression.schedule.scores, multiclass.schedule.scores) == ("tomorrow", "tomorrow")
    assert multiclass.schedule.timezone == "America/New_York"
    assert (multiclass.schedule.score, multiclass.schedule.timezone) != (
        regression.schedule.score,
        regression.schedule.timezone,
    )
    others = {
        table
        for name in available_usecases()
        if name not in SHIPPED
        for table in (load_usecase(name).output.predictions_table, load_usecase(name).output.shadow_table)
    }
    mine = [uc.output.predictions_table for uc in (regression, multiclass)] + [
        uc.output.shadow_table for uc in (regression, multiclass)
    ]
    assert len(set(mine)) == 4 and not others & set(mine)


@pytest.mark.parametrize("name", SHIPPED)
def test_nothing_observed_on_the_day_is_a_declared_column_or_feature(name):
    uc = load_usecase(name)
    assert not FORBIDDEN & set(uc.batch.columns)
    assert not FORBIDDEN & set(uc.feature_columns)


@pytest.mark.parametrize("name", SHIPPED)
def test_batch_holds_every_flight_scheduled_that_day_once_with_the_declared_columns_and_types(source, name):
    uc = load_usecase(name)
    with source.connect() as conn:
        batch = _query(conn, batch_query(uc), DAY)
        types = _column_types(conn, batch_query(uc), DAY)
        scheduled = set(
            conn.execute(
                sa.text("select carrier || flight::text || '-' || origin from source.flights where flight_date = :d"),
                {"d": DAY},
            ).scalars()
        )
    assert len(batch) == flights_on(source, DAY) > 900
    assert batch["entity_id"].is_unique and set(batch["entity_id"]) == scheduled
    assert set(batch["score_date"]) == {DAY}
    assert types == {column: PG_TYPE_NAMES.get(kind, kind) for column, kind in uc.batch.columns.items()}


@pytest.mark.parametrize("name", SHIPPED)
def test_feature_query_gives_each_batch_row_its_declared_features(source, name):
    uc = load_usecase(name)
    with source.connect() as conn:
        features = _query(conn, features_query(uc, f"(\n{batch_query(uc)}\n)"), DAY)
    assert list(features.columns) == ["entity_id", "score_date", *uc.feature_columns]
    assert len(features) == flights_on(source, DAY) and features["entity_id"].is_unique
    numeric = features[list(uc.features.numeric)]
    assert all(pd.api.types.is_numeric_dtype(numeric[c]) for c in numeric.columns)
    # the history features are live on an ordinary July day (not all null)
    history = [c for c in uc.features.numeric if c.endswith(("_7d", "_28d"))]
    assert len(history) >= 4 and numeric[history].notna().mean().min() > 0.9


def test_arrival_delay_labels_every_arrived_flight_in_minutes_clipped_at_six_hours(source):
    uc = load_usecase("arrival_delay")
    with source.connect() as conn:
        # the day of 2013 with the most arrivals more than 6 hours late
        day = conn.execute(
            sa.text(
                "select flight_date from source.flights where arr_delay > 360 "
                "group by flight_date order by count(*) desc, flight_date limit 1"
            )
        ).scalar_one()
        labels = _labels(conn, uc, day)
        raw = pd.read_sql(
            sa.text(
                "select carrier || flight::text || '-' || origin as entity_id, dep_time, arr_delay "
                "from source.flights where flight_date = :d"
            ),
            conn,
            params={"d": day},
        ).set_index("entity_id")
    arrived = raw[raw["arr_delay"].notna()]
    assert set(labels.index) == set(arrived.index)  # cancelled and diverted flights get no label
    assert len(raw) - len(arrived) >= (raw["dep_time"].isna()).sum() > 0
    assert pd.api.types.is_float_dtype(labels["label"])
    expected = arrived["arr_delay"].clip(upper=360).sort_index()
    pd.testing.assert_series_equal(labels["label"], expected, check_names=False)
    assert labels["label"].max() == 360 and (arrived["arr_delay"] > 360).any()
    assert labels["label"].min() < 0  # early arrivals are kept
    known = pd.Timestamp(day + dt.timedelta(days=1), tz="UTC") + pd.Timedelta(hours=12)
    assert set(labels["label_known_at"]) == {known}


def test_departure_outcome_labels_every_flight_with_one_of_the_declared_classes(source):
    uc = load_usecase("departure_outcome")
    assert _training_suite_classes(uc) == CLASSES
    with source.connect() as conn:
        labels = _labels(conn, uc, DAY)
        raw = pd.read_sql(
            sa.text(
                "select carrier || flight::text || '-' || origin as entity_id, dep_time, dep_delay "
                "from source.flights where flight_date = :d"
            ),
            conn,
            params={"d": DAY},
        ).set_index("entity_id")
    assert len(labels) == len(raw) == flights_on(source, DAY)
    assert pd.api.types.is_string_dtype(labels["label"])
    assert set(labels["label"]) == CLASSES
    joined = labels.join(raw)
    assert (joined["dep_time"].isna() == (joined["label"] == "cancelled")).all()
    departed = joined[joined["dep_time"].notna()]
    assert (departed.loc[departed["label"] == "on_time", "dep_delay"] <= 15).all()
    late = departed.loc[departed["label"] == "late", "dep_delay"]
    assert ((late > 15) & (late <= 60)).all()
    assert (departed.loc[departed["label"] == "very_late", "dep_delay"] > 60).all()


@pytest.mark.parametrize(
    ("name", "dtype_check"),
    [
        ("arrival_delay", pd.api.types.is_float_dtype),
        ("departure_outcome", pd.api.types.is_string_dtype),
    ],
)
def test_training_set_takes_the_labels_known_at_noon_utc_the_next_day(source, name, dtype_check):
    uc = load_usecase(name)
    with source.connect() as conn:
        frame = pd.read_sql(
            sa.text(training_query(uc)),
            conn,
            params={
                "date_from": DAY - dt.timedelta(days=1),
                "date_to": DAY,
                "known_at": dt.datetime(DAY.year, DAY.month, DAY.day, 12, 0, tzinfo=dt.UTC),
            },
        )
        expected = len(_labels(conn, uc, DAY - dt.timedelta(days=1)))
    assert set(frame["score_date"]) == {DAY - dt.timedelta(days=1)} and len(frame) == expected
    assert dtype_check(frame["label"]) and not FORBIDDEN & set(frame.columns)


def _rewrite_outcomes(conn, day: dt.date) -> None:
    conn.execute(
        sa.text(
            "update source.flights set dep_time = null, dep_delay = 500, arr_time = null, arr_delay = 300, "
            "air_time = 1, tailnum = null where flight_date = :d"
        ),
        {"d": day},
    )


@pytest.mark.parametrize("name", SHIPPED)
def test_outcomes_of_the_day_and_the_day_before_do_not_reach_the_batch(source, name):
    uc = load_usecase(name)
    with source.connect() as conn:  # one transaction, rolled back: the source stays as it was
        before = _batch(conn, uc, DAY)
        _rewrite_outcomes(conn, DAY)
        _rewrite_outcomes(conn, DAY - dt.timedelta(days=1))
        after = _batch(conn, uc, DAY)
        conn.rollback()
    pd.testing.assert_frame_equal(before, after)


@pytest.mark.parametrize("name", SHIPPED)
def test_outcomes_two_and_twenty_nine_days_before_reach_the_history_and_thirty_do_not(source, name):
    # the counterpart of the test above: the history windows are live (D-2..D-29), so that test can fail
    uc = load_usecase(name)
    changed = {}
    with source.connect() as conn:
        before = _batch(conn, uc, DAY)
        for lag in (2, 29, 30):
            _rewrite_outcomes(conn, DAY - dt.timedelta(days=lag))
            after = _batch(conn, uc, DAY)
            conn.rollback()
            changed[lag] = sorted(c for c in before.columns if not before[c].equals(after[c]))
    short = [c for c in before.columns if c.endswith("_7d")]
    long = [c for c in before.columns if c.endswith("_28d")]
    assert set(short) | set(long) <= set(changed[2]) and changed[2]
    assert set(long) <= set(changed[29]) and not set(short) & set(changed[29])
    assert changed[30] == []
