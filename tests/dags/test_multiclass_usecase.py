"""The shipped multiclass use case, departure_outcome, through train, its own scoring DAG and publish: every
flight gets its most probable outcome and the probability of each outcome, in the order of the version's classes,
and the BI view names them."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from pipeline.config.loading import load_usecase, with_overrides
from pipeline.orchestration import local as airflow_local
from tests.conftest import TRAIN_WINDOW
from tests.helpers import flights_on

USE_CASE = "departure_outcome"
TABLE = "batchscore.departure_outcome_predictions"
NIGHT = dt.date(2013, 7, 2)


@pytest.fixture(scope="module")
def multiclass_champion(source):
    from pipeline.model.artifacts import ModelError
    from pipeline.model.registry import get_champion
    from pipeline.model.train import train_and_register

    uc = with_overrides(load_usecase(USE_CASE), {f"training.{k}": v for k, v in TRAIN_WINDOW.items()})
    try:
        return get_champion(source, uc.name)
    except ModelError:
        return train_and_register(source, uc, created_by="tests")


def test_the_champion_records_its_classes_and_multiclass_holdout_metrics(multiclass_champion):
    mv = multiclass_champion
    assert mv.kind == "multiclass" and mv.threshold is None
    assert set(mv.classes) == {"on_time", "late", "very_late", "cancelled"}
    m = mv.holdout_metrics
    assert m["log_loss"] > 0 and 0 < m["macro_f1"] <= 1 and set(m["class_recall"]) <= set(mv.classes)


def test_a_night_publishes_the_most_probable_class_and_every_class_probability(source, multiclass_champion):
    outcome = airflow_local.run_dag(f"{USE_CASE}__score", NIGHT)
    assert outcome.succeeded, outcome.summary()
    classes = list(multiclass_champion.classes)
    with source.connect() as conn:
        rows = conn.execute(
            sa.text(f"select predicted_class, score, class_probabilities from {TABLE} where score_date = :d"),
            {"d": NIGHT},
        ).all()
        view = conn.execute(
            sa.text(
                "select use_case, predicted_class, class_probabilities from "
                "batchscore.v_departure_outcome_latest_predictions where score_date = :d limit 5"
            ),
            {"d": NIGHT},
        ).all()
    assert len(rows) == flights_on(source, NIGHT)
    for predicted, score, probabilities in rows:
        assert len(probabilities) == len(classes) and sum(probabilities) == pytest.approx(1.0, abs=1e-6)
        assert score == max(probabilities) and predicted == classes[probabilities.index(score)]
    assert len({r.predicted_class for r in rows}) >= 2  # not one class for every flight
    for use_case, predicted, by_class in view:
        assert use_case == USE_CASE and set(by_class) == set(classes)
        assert by_class[predicted] == max(by_class.values())
