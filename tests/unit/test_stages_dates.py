import datetime as dt

import pytest

from pipeline.scoring.dates import ScoreDateError, parse_date, resolve_score_date

EVENING = dt.datetime(2013, 7, 13, 22, 0, tzinfo=dt.UTC)


def test_param_wins_over_the_data_interval():
    assert resolve_score_date("2013-07-01", EVENING, EVENING) == dt.date(2013, 7, 1)


def test_scheduled_run_scores_the_day_after_its_data_interval():
    assert resolve_score_date(None, EVENING, dt.datetime(2026, 1, 1, tzinfo=dt.UTC)) == dt.date(2013, 7, 14)


def test_manual_run_without_logical_date_falls_back_to_run_after():
    assert resolve_score_date(None, None, EVENING) == dt.date(2013, 7, 14)


def test_no_date_at_all_is_an_error():
    with pytest.raises(ScoreDateError):
        resolve_score_date(None, None, None)


@pytest.mark.parametrize("bad", ["2013-7-1", "2013-02-30", "yesterday", "2013-07-01'; drop table x; --"])
def test_malformed_dates_are_rejected_with_the_parameter_name(bad):
    with pytest.raises(ScoreDateError, match="score_date must be a date in the form YYYY-MM-DD"):
        parse_date(bad)
