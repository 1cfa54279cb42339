"""Which date a run scores under a use case's [schedule], when its scheduled run for a date fires, and the DAG
ids of a use case (pure: no Airflow, no database)."""

import datetime as dt

import pytest

from pipeline.config.schedule import ScheduleSpec
from pipeline.errors import ConfigError
from pipeline.orchestration.naming import dag_id, parse_dag_id, resolve_dag_id
from pipeline.scoring.dates import resolve_cutoff_date, resolve_score_date, scheduled_fire_time

EVENING = dt.datetime(2013, 7, 13, 22, 0, tzinfo=dt.UTC)


def test_a_scheduled_run_of_a_yesterday_use_case_scores_the_day_before_it_fired():
    assert resolve_score_date(None, EVENING, None, ScheduleSpec(scores="yesterday")) == dt.date(2013, 7, 12)
    assert resolve_score_date(None, EVENING, None, ScheduleSpec(scores="today")) == dt.date(2013, 7, 13)
    assert resolve_score_date(None, EVENING, None, ScheduleSpec(scores="tomorrow")) == dt.date(2013, 7, 14)


def test_the_fired_date_is_taken_in_the_use_cases_time_zone():
    # 01:30 UTC on the 14th is 21:30 on the 13th in New York (EDT)
    fired = dt.datetime(2013, 7, 14, 1, 30, tzinfo=dt.UTC)
    new_york = ScheduleSpec(score="30 21 * * *", timezone="America/New_York", scores="yesterday")
    assert resolve_score_date(None, fired, None, new_york) == dt.date(2013, 7, 12)
    assert resolve_score_date(None, fired, None, ScheduleSpec(scores="yesterday")) == dt.date(2013, 7, 13)
    assert resolve_cutoff_date(None, fired, None, new_york) == dt.date(2013, 7, 13)


def test_a_score_date_param_wins_over_any_schedule():
    assert resolve_score_date("2013-07-01", EVENING, EVENING, ScheduleSpec(scores="yesterday")) == dt.date(2013, 7, 1)


def test_a_manual_run_without_a_date_scores_relative_to_when_it_was_triggered():
    assert resolve_score_date(None, None, EVENING, ScheduleSpec(scores="yesterday")) == dt.date(2013, 7, 12)


@pytest.mark.parametrize("scores", ["yesterday", "today", "tomorrow"])
@pytest.mark.parametrize(
    ("cron", "timezone"), [("0 22 * * *", "UTC"), ("30 21 * * *", "America/New_York"), ("15 6 * * 1-5", "Asia/Tokyo")]
)
def test_the_run_scheduled_for_a_date_fires_when_its_cron_says_and_scores_that_date(scores, cron, timezone):
    schedule = ScheduleSpec(score=cron, timezone=timezone, scores=scores)
    for day in (dt.date(2013, 7, 1), dt.date(2013, 12, 24)):
        fired = scheduled_fire_time(schedule, day, scoring=True)
        assert fired.tzinfo == dt.UTC
        assert resolve_score_date(None, fired, None, schedule) == day


def test_the_default_schedule_fires_as_the_nightly_run_always_did():
    default = ScheduleSpec()
    assert scheduled_fire_time(default, dt.date(2013, 7, 1), scoring=True) == dt.datetime(
        2013, 6, 30, 22, tzinfo=dt.UTC
    )
    # a weekly retraining on a Monday: the cron's time of day on that date
    assert scheduled_fire_time(default, dt.date(2013, 7, 8), scoring=False) == dt.datetime(2013, 7, 8, 3, tzinfo=dt.UTC)
    assert scheduled_fire_time(ScheduleSpec(score="none"), dt.date(2013, 7, 1), scoring=True) == dt.datetime(
        2013, 6, 30, tzinfo=dt.UTC
    )


def test_dag_ids_carry_the_use_case_and_the_kind():
    assert dag_id("flight_cancellation", "score") == "flight_cancellation__score"
    assert parse_dag_id("flight_cancellation__retrain") == ("flight_cancellation", "retrain")
    assert parse_dag_id("a__b__rollback") == ("a__b", "rollback")
    assert parse_dag_id("score_daily") is None and parse_dag_id("x__daily") is None and parse_dag_id("__score") is None
    with pytest.raises(ConfigError, match="no DAG kind 'daily'"):
        dag_id("x", "daily")  # type: ignore[arg-type]


def test_run_resolves_a_kind_against_the_use_case_and_refuses_a_mismatch():
    assert resolve_dag_id("score", None, "flight_cancellation") == "flight_cancellation__score"
    assert resolve_dag_id("rollback", "departure_disruption", "x") == "departure_disruption__rollback"
    assert resolve_dag_id("departure_disruption__score", None, "x") == "departure_disruption__score"
    with pytest.raises(ConfigError, match="belongs to use case 'a', not to --usecase 'b'"):
        resolve_dag_id("a__score", "b", "x")
    with pytest.raises(ConfigError, match="'score_daily' is not a DAG of batchscore"):
        resolve_dag_id("score_daily", None, "flight_cancellation")
