"""Any scikit-learn model from the TOML file alone, a use case's own pipeline factory, and integer categoricals:
trained on real Postgres, scored for a night end to end (extract, validate, features, drift, score, publish)."""

import datetime as dt

import pytest
import sqlalchemy as sa

from pipeline import tasks
from pipeline.cli import main
from pipeline.config.loading import UseCaseError
from pipeline.model.artifacts import load_artifact
from pipeline.model.train import train_and_register
from pipeline.validation.checks import ValidationFailed
from tests.helpers import flights_on
from tests.integration.usecase_copies import copy_usecase, shipped_sql

pytestmark = pytest.mark.integration

# departure_disruption trains on March and April 2013; a short window keeps these tests quick
WINDOWS = {
    'train_from = "2013-03-01"': 'train_from = "2013-04-01"',
    'holdout_to = "2013-05-31"': 'holdout_to = "2013-05-14"',
}


def _published(engine, uc, day):
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                f"select count(*), count(distinct model_version), min(score), max(score) "
                f"from batchscore.{uc.output.predictions_table} where score_date = :d"
            ),
            {"d": day},
        ).one()


def _drift(engine, uc, day, metric):
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "select feature, value from batchscore.drift_metrics where use_case = :u and score_date = :d "
                "and metric = :m"
            ),
            {"u": uc.name, "d": day, "m": metric},
        ).all()
    return {r.feature: r.value for r in rows}


def test_a_logistic_regression_declared_in_toml_alone_trains_and_scores_a_night(source, tmp_path):
    uc = copy_usecase(
        tmp_path,
        "departure_disruption",
        "disruption_logistic",
        replace=WINDOWS,
        model="""
[model]
estimator = "sklearn.linear_model.LogisticRegression"
random_state = 7

[model.hyperparameters]
C = 0.5
max_iter = 500
""",
    )
    mv = train_and_register(source, uc, created_by="tests")
    assert mv.status == "champion" and mv.holdout_metrics["roc_auc"] > 0.6
    model = load_artifact(mv)
    assert type(model.named_steps["model"]).__name__ == "LogisticRegression"
    assert model.named_steps["model"].C == 0.5
    # the categories come from the training data, not from an encoder (a one-hot encoder groups rare ones)
    assert {"UA", "AA", "DL"} <= set(mv.features["carrier"]["categories"])
    day = dt.date(2013, 5, 15)
    summary = tasks.run_night(day.isoformat(), "logistic-night", uc.ref)
    assert summary["model_version"] == mv.version
    rows, versions, low, high = _published(source, uc, day)
    assert rows == flights_on(source, day) and versions == 1 and 0 <= low < high <= 1
    unseen = _drift(source, uc, day, "unseen_share")
    assert unseen["carrier"] < 0.01 and unseen["origin"] == 0


def test_a_pipeline_factory_named_in_toml_builds_the_model_that_is_trained_and_scored(source, tmp_path):
    uc = copy_usecase(
        tmp_path,
        "departure_disruption",
        "disruption_forest",
        replace=WINDOWS,
        model="""
[model]
pipeline = "tests.integration.usecase_copies:small_forest"
random_state = 3
""",
    )
    mv = train_and_register(source, uc, created_by="tests")
    model = load_artifact(mv)
    assert type(model.named_steps["forest"]).__name__ == "RandomForestClassifier"
    assert mv.holdout_metrics["roc_auc"] > 0.6
    day = dt.date(2013, 5, 15)
    tasks.run_night(day.isoformat(), "forest-night", uc.ref)
    assert _published(source, uc, day)[0] == flights_on(source, day)


def test_a_factory_that_returns_no_model_is_refused_naming_model_pipeline(source, tmp_path):
    uc = copy_usecase(
        tmp_path,
        "departure_disruption",
        "disruption_not_a_model",
        replace=WINDOWS,
        model="""
[model]
pipeline = "tests.integration.usecase_copies:not_a_model"
""",
    )
    with pytest.raises(
        Exception,
        match=r"'model\.pipeline' tests\.integration\.usecase_copies:not_a_model returned an unusable model: "
        r"dict has no fit\(\)",
    ):
        train_and_register(source, uc, created_by="tests")


def test_a_hyper_parameter_typo_is_refused_at_load_naming_file_and_key(source, tmp_path, capsys):
    path = tmp_path / "disruption_typo.toml"
    with pytest.raises(UseCaseError) as refused:
        copy_usecase(tmp_path, "departure_disruption", "disruption_typo", replace={"max_iter = 60": "max_iterr = 60"})
    assert str(refused.value) == (
        f"{path}: 'model.hyperparameters.max_iterr' is not a hyper-parameter of HistGradientBoostingClassifier "
        "(did you mean 'max_iter'?)"
    )
    assert main(["train", "--usecase", str(path)]) == 1  # refused before any data is read
    assert "'model.hyperparameters.max_iterr' is not a hyper-parameter" in capsys.readouterr().err
    with source.connect() as conn:
        versions = conn.execute(
            sa.text("select count(*) from batchscore.model_versions where use_case = 'disruption_typo'")
        ).scalar()
    assert versions == 0


def _with_flight(tmp_path, name):
    """departure_disruption with the flight number (an integer column) as a third categorical."""
    batch = shipped_sql("usecases/departure_disruption/batch.sql")
    batch = batch.replace(
        "        carrier,\n        origin,\n", "        carrier,\n        flight,\n        origin,\n", 1
    )
    batch = batch.replace("    s.carrier,\n", "    s.carrier,\n    s.flight,\n", 1)
    features = shipped_sql("usecases/departure_disruption/features.sql").replace(
        "    carrier,\n", "    carrier,\n    flight,\n", 1
    )
    return copy_usecase(
        tmp_path,
        "departure_disruption",
        name,
        replace={
            **WINDOWS,
            'holdout_to = "2013-05-14"': 'holdout_to = "2013-05-07"',
            'carrier = "text"\n': 'carrier = "text"\nflight = "integer"\n',
            'categorical = ["carrier", "origin"]': 'categorical = ["carrier", "origin", "flight"]',
        },
        sql={"batch": batch, "features": features},
    )


def test_an_integer_categorical_is_recorded_validated_and_measured_as_the_strings_scoring_sees(source, tmp_path):
    uc = _with_flight(tmp_path, "disruption_by_flight")
    assert uc.batch.columns["flight"] == "integer" and "flight" in uc.features.categorical
    mv = train_and_register(source, uc, created_by="tests")
    seen = mv.features["flight"]["categories"]
    with source.connect() as conn:
        flights = conn.execute(
            sa.text(
                "select count(distinct flight), min(flight) from source.flights "
                "where flight_date between '2013-04-01' and '2013-04-30'"
            )
        ).one()
    assert len(seen) == flights[0] and str(flights[1]) in seen and not any("." in s for s in seen)
    assert set(mv.known_categories()["flight"]) == set(seen)
    with source.connect() as conn:
        reference = conn.execute(
            sa.text("select drift_reference from batchscore.model_versions where use_case = :u and version = :v"),
            {"u": uc.name, "v": mv.version},
        ).scalar()
    # no flight number holds 0.5% of the rows, so the reference pools them all (but counts every row)
    flight_reference = reference["categorical"]["flight"]
    assert flight_reference["rows"] == reference["rows"] and set(flight_reference["categories"]) <= set(seen)

    # the last night of the training window: every flight was seen, so nothing is unseen
    day = dt.date(2013, 4, 30)
    tasks.run_night(day.isoformat(), "flight-night", uc.ref)
    assert _published(source, uc, day)[0] == flights_on(source, day)
    unseen = _drift(source, uc, day, "unseen_share")
    assert unseen["flight"] == pytest.approx(0.0, abs=0.005)
    assert _drift(source, uc, day, "null_rate_delta")["flight"] == pytest.approx(0.0, abs=0.005)

    # a new month's schedule brings about 10% new flight numbers: the gate compares them with the ints it sees
    with pytest.raises(ValidationFailed, match="flight has categories the model never saw"):
        tasks.run_night("2013-05-01", "flight-next-month", uc.ref)
