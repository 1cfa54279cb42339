"""Training data goes through its own suite, inside Postgres, before any model is fitted."""

import datetime as dt

import pytest
import sqlalchemy as sa

from pipeline.config.loading import with_overrides
from pipeline.model.train import train_and_register
from pipeline.validation.checks import ValidationFailed


def _versions(engine, use_case):
    with engine.connect() as conn:
        return conn.execute(
            sa.text("select count(*) from batchscore.model_versions where use_case = :u"), {"u": use_case}
        ).scalar()


def test_a_training_window_without_enough_rows_is_refused_before_fitting(champion, source, usecase):
    before = _versions(source, usecase.name)
    tiny = with_overrides(
        usecase, {"training.train_from": dt.date(2013, 5, 1), "training.train_to": dt.date(2013, 5, 2)}
    )
    with pytest.raises(
        ValidationFailed,
        match=r"validation failed for the training set of flight_cancellation: "
        r"row count \d+ outside the allowed range",
    ):
        train_and_register(source, tiny, created_by="tests")
    assert _versions(source, usecase.name) == before


def test_a_training_set_with_one_class_only_is_refused(champion, source, usecase):
    before = _versions(source, usecase.name)
    with source.begin() as conn:
        conn.execute(
            sa.text(
                "create table source._backup_dep as select flight_date, carrier, flight, origin "
                "from source.flights where flight_date between '2013-05-01' and '2013-05-31' "
                "and dep_time is null"
            )
        )
        conn.execute(
            sa.text(
                "update source.flights set dep_time = 1 where flight_date between '2013-05-01' and "
                "'2013-05-31' and dep_time is null"
            )
        )
    try:
        with pytest.raises(ValidationFailed, match="label has values"):
            train_and_register(source, usecase, created_by="tests")
    finally:
        with source.begin() as conn:
            restored = conn.execute(
                sa.text(
                    "update source.flights f set dep_time = null from source._backup_dep b where (f.flight_date, "
                    "f.carrier, f.flight, f.origin) = (b.flight_date, b.carrier, b.flight, b.origin)"
                )
            ).rowcount
            assert restored == conn.execute(sa.text("select count(*) from source._backup_dep")).scalar() > 0
            conn.execute(sa.text("drop table source._backup_dep"))
    assert _versions(source, usecase.name) == before
    with source.connect() as conn:
        recorded = conn.execute(
            sa.text(
                "select count(*) from batchscore.validation_results where dataset = 'training' and not success "
                "and expectation = 'expect_column_distinct_values_to_equal_set'"
            )
        ).scalar()
    assert recorded >= 1
