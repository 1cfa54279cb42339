"""A model trained elsewhere (plain scikit-learn in a "notebook", saved with joblib) registered from its file:
checked, measured on the use case's holdout, judged by the promotion rule against the champion, or refused."""

import datetime as dt

import joblib
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from pipeline import tasks
from pipeline.cli import main
from pipeline.db.queries import training_query
from pipeline.model.artifacts import resolve_artifact, sha256_of
from pipeline.model.registry import get_champion, get_version
from pipeline.model.train import train_and_register
from pipeline.model.training_sets import label_cutoff
from tests.helpers import flights_on
from tests.integration.usecase_copies import copy_usecase

pytestmark = pytest.mark.integration

WINDOWS = {
    'train_from = "2013-03-01"': 'train_from = "2013-04-01"',
    'holdout_to = "2013-05-31"': 'holdout_to = "2013-05-14"',
}
WEAK = """
[model]
random_state = 7

[model.hyperparameters]
max_iter = 1
max_leaf_nodes = 2
"""


def notebook_frame(engine, uc):
    """What a data scientist reads in a notebook: the use case's features and labels of its training window."""
    w = uc.training
    with engine.connect() as conn:
        return pd.read_sql(
            sa.text(training_query(uc) + " order by score_date, entity_id"),
            conn,
            params={"date_from": w.train_from, "date_to": w.train_to, "known_at": label_cutoff(w.holdout_to)},
        )


def notebook_model(frame, categorical, numeric, **booster):
    """Plain scikit-learn, as a notebook would write it (no batchscore code)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    encode = ColumnTransformer(
        [
            (
                "cat",
                OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan),
                categorical,
            ),
            ("num", "passthrough", numeric),
        ],
        verbose_feature_names_out=False,
    )
    model = Pipeline(
        [
            ("encode", encode),
            ("boost", HistGradientBoostingClassifier(categorical_features=list(range(len(categorical))), **booster)),
        ]
    )
    x = frame[categorical + numeric].astype({c: object for c in categorical})
    return model.fit(x, frame["label"].astype(bool))


@pytest.fixture(scope="module")
def weak_champion(source, tmp_path_factory):
    """A use case whose champion was deliberately trained weak (one boosting iteration of a single split)."""
    uc = copy_usecase(
        tmp_path_factory.mktemp("register"), "departure_disruption", "disruption_byom", replace=WINDOWS, model=WEAK
    )
    mv = train_and_register(source, uc, created_by="tests")
    assert mv.status == "champion"
    return uc, mv


@pytest.fixture(scope="module")
def notebook(source, weak_champion):
    uc, _ = weak_champion
    return notebook_frame(source, uc)


def _decisions(engine, uc):
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("select * from batchscore.promotion_decisions where use_case = :u order by id"), {"u": uc.name}
        )
        return [dict(r._mapping) for r in rows]


def _versions(engine, uc):
    with engine.connect() as conn:
        return conn.execute(
            sa.text("select count(*) from batchscore.model_versions where use_case = :u"), {"u": uc.name}
        ).scalar()


def test_a_model_trained_in_a_notebook_is_registered_from_its_file_and_promoted_by_the_rule(
    source, weak_champion, notebook, tmp_path, capsys
):
    uc, weak = weak_champion
    model = notebook_model(
        notebook, list(uc.features.categorical), list(uc.features.numeric), max_iter=80, random_state=1
    )
    path = tmp_path / "disruption.joblib"
    joblib.dump(model, path)

    assert main(["model", "register", "--usecase", uc.ref, "--artifact", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"registered from {path}" in out and ": champion: average precision improves by" in out

    champion = get_champion(source, uc.name)
    assert champion.version != weak.version and get_version(source, uc.name, weak.version).status == "archived"
    # a byte-for-byte copy in the store: the sha256 its author can check against the file
    assert champion.artifact_sha256 == sha256_of(path) == sha256_of(resolve_artifact(champion.artifact_path))
    assert champion.holdout_metrics["average_precision"] > weak.holdout_metrics["average_precision"] + 0.02
    assert champion.holdout_metrics["rows"] == weak.holdout_metrics["rows"]  # the same holdout
    assert set(champion.known_categories()["carrier"]) == set(weak.known_categories()["carrier"])
    with source.connect() as conn:
        created_by, hyper, reference = conn.execute(
            sa.text(
                "select created_by, hyperparameters, drift_reference from batchscore.model_versions "
                "where use_case = :u and version = :v"
            ),
            {"u": uc.name, "v": champion.version},
        ).one()
    assert created_by == "register" and hyper["registered_from"]["file"] == str(path.resolve())
    assert hyper["estimator"] == "sklearn.pipeline.Pipeline" and hyper["params"]["boost__max_iter"] == 80
    assert reference["format"] == 1 and set(reference["categorical"]) == set(uc.features.categorical)
    [decision] = _decisions(source, uc)
    assert decision["promoted"] and not decision["forced"] and decision["actor"] == "cli"
    assert decision["champion_version"] == weak.version and decision["challenger_version"] == champion.version
    assert decision["bootstrap"]["win_share"] >= uc.promotion.min_win_share

    day = dt.date(2013, 5, 15)  # the registered champion scores a night like any other
    summary = tasks.run_night(day.isoformat(), "byom-night", uc.ref)
    assert summary["model_version"] == champion.version and summary["rows"] == flights_on(source, day)


def test_a_model_no_better_than_the_champion_is_rejected_unless_promoted_by_hand_with_a_reason(
    source, weak_champion, notebook, tmp_path
):
    uc, _ = weak_champion
    before = get_champion(source, uc.name)
    stump = {"max_iter": 1, "max_leaf_nodes": 2}  # as weak as the first champion: no better than any champion
    model = notebook_model(notebook, list(uc.features.categorical), list(uc.features.numeric), **stump)
    path = tmp_path / "weak.joblib"
    joblib.dump(model, path)
    rejected = tasks.register_model(str(path), usecase=uc.ref, actor="tests")
    assert not rejected["promoted"] and rejected["status"] == "rejected"
    assert get_champion(source, uc.name).version == before.version
    assert get_version(source, uc.name, rejected["version"]).status == "rejected"
    assert _decisions(source, uc)[-1]["promoted"] is False

    with pytest.raises(Exception, match="promoting by hand needs a reason"):
        tasks.register_model(str(path), usecase=uc.ref, promote=True, reason="  ")
    forced = tasks.register_model(
        str(path), usecase=uc.ref, promote=True, reason="the notebook model is the audited one", actor="tests"
    )
    assert forced["promoted"] and forced["forced"] and get_champion(source, uc.name).version == forced["version"]
    last = _decisions(source, uc)[-1]
    assert last["forced"] and last["promoted"] and last["actor"] == "tests"
    assert last["reason"].startswith("promoted by hand: the notebook model is the audited one (the rule said: ")
    assert last["champion_version"] == before.version


def test_a_model_with_other_features_is_refused_naming_the_file_and_registers_nothing(
    source, weak_champion, notebook, tmp_path, capsys
):
    uc, _ = weak_champion
    numeric = [c for c in uc.features.numeric if c != "distance"]
    path = tmp_path / "no_distance.joblib"
    joblib.dump(notebook_model(notebook, list(uc.features.categorical), numeric, max_iter=5), path)
    before = _versions(source, uc)
    assert main(["model", "register", "--usecase", uc.ref, "--artifact", str(path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        f"batchscore model: {path}: the model lacks the declared features distance ([features] of {uc.path})"
    )
    assert _versions(source, uc) == before


def test_the_first_model_of_a_use_case_registered_from_a_file_becomes_its_champion(source, notebook, tmp_path):
    uc = copy_usecase(tmp_path, "departure_disruption", "disruption_first_byom", replace=WINDOWS)
    path = tmp_path / "first.joblib"
    joblib.dump(notebook_model(notebook, list(uc.features.categorical), list(uc.features.numeric), max_iter=20), path)
    done = tasks.register_model(str(path), usecase=uc.ref, actor="tests")
    assert done["promoted"] and done["previous"] is None and done["reason"].startswith("no champion yet")
    champion = get_champion(source, uc.name)
    assert champion.version == done["version"] and champion.artifact_sha256 == sha256_of(path)
    assert _decisions(source, uc) == []  # like a first training: no rule to apply


def test_a_file_pickled_with_another_scikit_learn_is_refused_unless_allowed_and_then_stored_re_pickled(
    source, notebook, tmp_path, monkeypatch, capsys
):
    import sklearn
    import sklearn.base

    from pipeline.model.artifacts import load_artifact

    uc = copy_usecase(tmp_path, "departure_disruption", "disruption_old_sklearn", replace=WINDOWS)
    path = tmp_path / "old.joblib"
    model = notebook_model(notebook, list(uc.features.categorical), list(uc.features.numeric), max_iter=10)
    with monkeypatch.context() as m:
        m.setattr(sklearn.base, "__version__", "1.0.2")  # as an older notebook environment writes it
        joblib.dump(model, path)
    assert main(["model", "register", "--usecase", uc.ref, "--artifact", str(path)]) == 1
    assert f"{path}: pickled with scikit-learn 1.0.2, this environment has {sklearn.__version__}" in (
        capsys.readouterr().err
    )
    assert _versions(source, uc) == 0
    done = tasks.register_model(str(path), usecase=uc.ref, allow_version_mismatch=True, actor="tests")
    assert done["pickled_with"] == "1.0.2" and done["promoted"]
    mv = get_champion(source, uc.name)
    assert mv.sklearn_version == sklearn.__version__ and mv.artifact_sha256 != sha256_of(path)  # re-pickled here
    with source.connect() as conn:
        source_record = conn.execute(
            sa.text("select hyperparameters -> 'registered_from' from batchscore.model_versions where use_case = :u"),
            {"u": uc.name},
        ).scalar()
    assert source_record["pickled_with_sklearn"] == "1.0.2" and source_record["sha256"] == sha256_of(path)
    assert hasattr(load_artifact(mv), "predict_proba")  # nightly loading accepts the stored artifact
