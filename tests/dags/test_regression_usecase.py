"""The shipped regression use case, arrival_delay, end to end through Airflow: a first champion, three nights
scored by its own DAG into its own table with an interval, performance once the labels are known (MAE against the
holdout's), a weekly retraining judged on MAE by the same rule, and the report."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from pipeline.config.loading import load_usecase, with_overrides
from pipeline.db.sql import strip_trailing_semicolon
from pipeline.orchestration import local as airflow_local
from tests.conftest import TRAIN_WINDOW
from tests.helpers import flights_on

USE_CASE = "arrival_delay"
TABLE = "batchscore.arrival_delay_predictions"
NIGHTS = (dt.date(2013, 7, 1), dt.date(2013, 7, 2), dt.date(2013, 7, 3))
CUTOFF = dt.date(2013, 7, 7)


@pytest.fixture(scope="module")
def regression_champion(source):
    from pipeline.model.artifacts import ModelError
    from pipeline.model.registry import get_champion
    from pipeline.model.train import train_and_register

    uc = with_overrides(load_usecase(USE_CASE), {f"training.{k}": v for k, v in TRAIN_WINDOW.items()})
    try:
        return get_champion(source, uc.name)
    except ModelError:
        return train_and_register(source, uc, created_by="tests")


@pytest.fixture(scope="module")
def three_nights(regression_champion):
    outcomes = [airflow_local.run_dag(f"{USE_CASE}__score", day) for day in NIGHTS]
    for outcome in outcomes:
        assert outcome.succeeded, outcome.summary()
    return outcomes


def test_the_champion_is_a_regression_with_its_interval_measured_on_the_holdout(regression_champion):
    mv = regression_champion
    assert (mv.kind, mv.threshold, mv.classes) == ("regression", None, None)
    metrics = mv.holdout_metrics
    assert metrics["mae"] > 0 and metrics["rmse"] >= metrics["mae"]
    # an 80% interval: the holdout (a later month) is covered about that often, not 100% nor 50%
    assert 0.65 <= metrics["interval_coverage"] <= 0.95
    assert "average_precision" not in metrics


def test_three_nights_publish_a_predicted_delay_with_its_interval_for_every_flight(source, three_nights):
    with source.connect() as conn:
        for day, outcome in zip(NIGHTS, three_nights, strict=True):
            rows, inside, runs, spread = conn.execute(
                sa.text(
                    f"select count(*), count(*) filter (where prediction_lower < score and score < prediction_upper), "
                    f"count(distinct run_id), stddev(score) from {TABLE} where score_date = :d"
                ),
                {"d": day},
            ).one()
            assert rows == flights_on(source, day) and inside == rows and runs == 1
            assert spread > 1.0  # minutes: the model tells flights apart
            ledger = conn.execute(
                sa.text("select status, rows_out from batchscore.scoring_runs where run_id = :r"),
                {"r": outcome.run_id},
            ).one()
            assert tuple(ledger) == ("succeeded", rows)
        view = conn.execute(
            sa.text(
                "select count(*), count(*) filter (where use_case = :u and predicted_value is not null) "
                "from batchscore.v_arrival_delay_latest_predictions"
            ),
            {"u": USE_CASE},
        ).one()
        assert view[0] == view[1] > 0


def test_performance_once_labels_are_known_is_the_mae_of_the_published_nights(source, three_nights):
    from pipeline.monitoring.monitor import monitor_date

    uc = load_usecase(USE_CASE)
    monitor_date(source, uc, NIGHTS[-1])  # the labels of July 2013 are all known now
    with source.connect() as conn:
        rows = conn.execute(
            sa.text(
                "select score_date, kind, label_count, (metrics ->> 'mae')::float8 as mae, status "
                "from batchscore.model_performance where use_case = :u and role = 'champion' order by score_date"
            ),
            {"u": USE_CASE},
        ).all()
        labels = strip_trailing_semicolon(uc.query("labels"))
        recomputed = dict(
            conn.execute(
                sa.text(
                    f"with labels as ({labels}) select p.score_date, avg(abs(p.score - labels.label)) "
                    f"from {TABLE} p join labels using (entity_id, score_date) group by 1"
                ),
                {"date_from": NIGHTS[0], "date_to": NIGHTS[-1]},
            ).all()
        )
    assert [r.score_date for r in rows] == list(NIGHTS)
    assert all(r.kind == "regression" and r.label_count > 200 and r.status in ("ok", "degraded") for r in rows)
    # the nightly MAE is the mean absolute error of the published predictions against the use case's own labels
    assert {r.score_date: round(r.mae, 6) for r in rows} == {d: round(float(v), 6) for d, v in recomputed.items()}
    with source.connect() as conn:
        viewed = conn.execute(
            sa.text("select count(*) from batchscore.v_model_performance where use_case = :u"), {"u": USE_CASE}
        ).scalar()
    assert viewed >= len(NIGHTS)


def test_a_weekly_retraining_is_judged_on_mae_and_logged(source, three_nights):
    outcome = airflow_local.run_dag(f"{USE_CASE}__retrain", CUTOFF)
    assert outcome.succeeded, outcome.summary()
    with source.connect() as conn:
        decision = conn.execute(
            sa.text(
                "select rule ->> 'metric' as metric, challenger_metrics, champion_metrics, improvement, promoted, "
                "reason from batchscore.promotion_decisions where use_case = :u and run_id = :r"
            ),
            {"u": USE_CASE, "r": outcome.run_id},
        ).one()
    assert decision.metric == "neg_mae"
    assert decision.challenger_metrics["mae"] > 0 and decision.champion_metrics["mae"] > 0
    # the improvement is the gain of the negated MAE: positive when the challenger's MAE is lower
    gain = decision.champion_metrics["mae"] - decision.challenger_metrics["mae"]
    assert decision.improvement == pytest.approx(gain, rel=1e-9)
    assert ("mae improves" in decision.reason) == decision.promoted


def test_the_report_shows_the_regression_nights(three_nights):
    report = airflow_local.task_return(f"{USE_CASE}__score", three_nights[-1].run_id, "refresh_report")
    with open(report["path"], encoding="utf-8") as handle:
        html = handle.read()
    assert USE_CASE in html and "MAE" in html
    assert "average precision" not in html.lower()
