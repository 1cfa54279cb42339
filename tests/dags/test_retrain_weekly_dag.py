"""A use case's retraining DAG (<use case>__retrain) end to end through Airflow: a clearly better challenger
replaces a deliberately weak champion (with an asset event), a deliberately worse one is rejected (without), and
every decision is logged. The test use case lives in a folder of its own (``BATCHSCORE_USECASES_DIR``), in two
variants (weak and strong hyper-parameters) that the DAGs of the same name read in turn."""

from __future__ import annotations

import datetime as dt
import threading
import tomllib
from pathlib import Path

import pytest
import sqlalchemy as sa

from pipeline import tasks
from pipeline.config.loading import load_usecase, parse_usecase, with_overrides
from pipeline.config.paths import project_root
from pipeline.db.staging import training_tables
from pipeline.model.registry import get_champion, promote_version
from pipeline.model.retrain import retrain_windows
from pipeline.model.training_sets import TrainingSets
from pipeline.orchestration import local as airflow_local
from tests.helpers import flights_on, predictions_fingerprint

CUTOFF = dt.date(2013, 6, 3)
USE_CASE = "fc_retrain_test"


def _write_usecase(tmp: Path, hyperparameters: dict) -> Path:
    """A copy of flight_cancellation under its own name, small windows, the given hyper-parameters."""
    text = (project_root() / "usecases" / "flight_cancellation.toml").read_text()
    raw = tomllib.loads(text)
    sql = project_root() / "sql"
    lines = [f'name = "{USE_CASE}"']
    for i, line in enumerate(text.splitlines()):
        if line.startswith("name = ") and i < 5:  # the top-level name only, not [target] name
            continue
        for key in ("batch", "features", "labels", "freshness"):
            if line.startswith(f'{key} = "usecases/'):
                line = f'{key} = "{sql / raw["sql" if key != "freshness" else "validation"][key]}"'
        line = line.replace('predictions_table = "predictions"', f'predictions_table = "{USE_CASE}_predictions"')
        line = line.replace('shadow_table = "shadow_predictions"', f'shadow_table = "{USE_CASE}_shadow"')
        line = line.replace('views_prefix = "v_"', f'views_prefix = "v_{USE_CASE}_"')  # views of its own too
        line = line.replace("train_weeks = 20", "train_weeks = 4").replace("holdout_weeks = 4", "holdout_weeks = 3")
        lines.append(line)
    body = "\n".join(lines)
    params = "\n".join(f"{k} = {v}" for k, v in hyperparameters.items())
    body = body.replace(
        body[body.index("[model.hyperparameters]") : body.index("[training]")], f"[model.hyperparameters]\n{params}\n\n"
    )
    folder = tmp / f"variant_{abs(hash(params))}"
    folder.mkdir()
    path = folder / f"{USE_CASE}.toml"  # a deployment's folder of use cases: the DAGs carry the file's name
    path.write_text(body)
    parse_usecase(tomllib.loads(body), path)  # fail here, not in the DAG, when the copy is wrong
    return path


STRONG = {"max_iter": 100, "learning_rate": 0.1, "max_leaf_nodes": 31, "min_samples_leaf": 40}
WEAK = {"max_iter": 2, "learning_rate": 0.05, "max_leaf_nodes": 2, "min_samples_leaf": 5000}


def _decisions(engine):
    with engine.connect() as conn:
        return [
            dict(r._mapping)
            for r in conn.execute(
                sa.text("select * from batchscore.promotion_decisions where use_case = :u order by id"), {"u": USE_CASE}
            )
        ]


def _champion_events() -> int:
    airflow_local.ensure_airflow_db()
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        return session.scalar(
            sa.select(sa.func.count())
            .select_from(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.uri == f"model://{USE_CASE}/champion")
        )


@pytest.fixture(scope="module")
def weak_champion(source, tmp_path_factory):
    """A deliberately weak champion of the test use case."""
    from pipeline.model.train import train_and_register

    tmp = tmp_path_factory.mktemp("usecases")
    weak_path = _write_usecase(tmp, WEAK)
    uc = with_overrides(
        load_usecase(str(weak_path)),
        {
            "training.train_from": dt.date(2013, 4, 1),
            "training.train_to": dt.date(2013, 4, 30),
            "training.holdout_from": dt.date(2013, 5, 1),
            "training.holdout_to": dt.date(2013, 5, 14),
        },
    )
    mv = train_and_register(source, uc, created_by="tests")
    assert mv.status == "champion"
    return {"version": mv.version, "weak": weak_path, "strong": _write_usecase(tmp, STRONG)}


def test_the_retrain_windows_end_where_labels_stop_being_known():
    w = retrain_windows(load_usecase("flight_cancellation"), dt.date(2013, 7, 14))
    assert (w["holdout_to"], w["holdout_from"]) == (dt.date(2013, 7, 12), dt.date(2013, 6, 15))
    assert (w["train_to"], w["train_from"]) == (dt.date(2013, 6, 14), dt.date(2013, 1, 26))
    assert w["known_at"] == dt.datetime(2013, 7, 14, tzinfo=dt.UTC)


def test_labels_known_after_the_cutoff_never_enter_training(source, weak_champion, monkeypatch):
    # inject: a use case whose holdout window reaches the cut-off itself (no label delay); the labels of the
    # last two days are only known after the cut-off and must be dropped by the point-in-time filter
    text = weak_champion["strong"].read_text().replace("label_delay_days = 2", "label_delay_days = 0")
    leaky = weak_champion["strong"].parent.parent / "leaky.toml"
    leaky.write_text(text)
    ts = tasks.build_training_set(CUTOFF.isoformat(), "pit-test", str(leaky))
    assert ts["windows"]["holdout_to"] == CUTOFF.isoformat()
    tables = training_tables(USE_CASE, "pit-test")
    try:
        with source.connect() as conn:
            per_day = dict(
                conn.execute(sa.text(f"select score_date, count(*) from {tables['holdout'][0]} group by 1")).all()
            )
    finally:
        TrainingSets(source, load_usecase(str(leaky)), "pit-test").drop()
    day_before = CUTOFF - dt.timedelta(days=2)
    assert per_day[day_before] == flights_on(source, day_before)  # known at the cut-off: in
    assert CUTOFF - dt.timedelta(days=1) not in per_day and CUTOFF not in per_day  # known later: out


def test_retrain_promotes_a_better_challenger_then_rejects_a_worse_one(source, weak_champion, monkeypatch):
    events_before = _champion_events()
    monkeypatch.setenv("BATCHSCORE_USECASES_DIR", str(weak_champion["strong"].parent))
    better = airflow_local.run_dag(f"{USE_CASE}__retrain", CUTOFF)
    assert better.succeeded, better.summary()
    first = _decisions(source)[-1]
    assert first["promoted"] and first["champion_version"] == weak_champion["version"]
    assert first["improvement"] > 0.05 and first["bootstrap"]["win_share"] >= 0.95
    promoted = get_champion(source, USE_CASE).version
    assert promoted == first["challenger_version"] != weak_champion["version"]
    assert _champion_events() == events_before + 1

    monkeypatch.setenv("BATCHSCORE_USECASES_DIR", str(weak_champion["weak"].parent))
    worse = airflow_local.run_dag(f"{USE_CASE}__retrain", CUTOFF)
    assert worse.succeeded, worse.summary()  # keeping the champion is a successful run
    second = _decisions(source)[-1]
    assert not second["promoted"] and second["improvement"] < 0
    assert get_champion(source, USE_CASE).version == promoted
    with source.connect() as conn:
        status = conn.execute(
            sa.text("select status from batchscore.model_versions where use_case = :u and version = :v"),
            {"u": USE_CASE, "v": second["challenger_version"]},
        ).scalar()
    assert status == "rejected"
    assert _champion_events() == events_before + 1  # a skipped promotion emits no event
    assert all(d["reason"].strip() for d in _decisions(source))

    # the rejected challenger is now in trial: the nightly run shadow-scores it, never into predictions
    from pipeline import tasks

    day = dt.date(2013, 6, 5)
    tasks.run_night(day.isoformat(), "shadow-test", str(weak_champion["weak"]))
    with source.connect() as conn:
        shadow = conn.execute(
            sa.text(
                f"select model_version, count(*) from batchscore.{USE_CASE}_shadow where score_date = :d group by 1"
            ),
            {"d": day},
        ).all()
        live = conn.execute(
            sa.text(
                f"select model_version, count(*) from batchscore.{USE_CASE}_predictions "
                "where score_date = :d group by 1"
            ),
            {"d": day},
        ).all()
        created_by = conn.execute(
            sa.text("select created_by from batchscore.model_versions where use_case = :u and version = :v"),
            {"u": USE_CASE, "v": promoted},
        ).scalar()
    assert [tuple(r) for r in shadow] == [(second["challenger_version"], flights_on(source, day))]
    assert [tuple(r) for r in live] == [(promoted, flights_on(source, day))]
    assert created_by == f"manual:{better.run_id}"


def test_a_dry_run_decides_and_records_but_changes_nothing(source, weak_champion):
    before = get_champion(source, USE_CASE).version
    text = tasks.run_retrain(
        CUTOFF.isoformat(), "dry-run-test", dry_run=True, force=True, usecase=str(weak_champion["strong"])
    )
    last = _decisions(source)[-1]
    assert last["dry_run"] and not last["promoted"] and last["reason"].startswith("dry run, nothing changed")
    assert get_champion(source, USE_CASE).version == before
    assert "dry run, nothing changed" in text
    with source.connect() as conn:
        status = conn.execute(
            sa.text("select status from batchscore.model_versions where use_case = :u and version = :v"),
            {"u": USE_CASE, "v": last["challenger_version"]},
        ).scalar()
    assert status == "candidate"


def test_rollback_restores_the_former_champion_and_rescores(source, weak_champion, monkeypatch):
    monkeypatch.setenv("BATCHSCORE_USECASE", str(weak_champion["strong"]))
    current = get_champion(source, USE_CASE).version
    day = dt.date(2013, 6, 10)
    outcome = tasks.rollback(None, reason="tests: the new model misbehaves", rescore_dates=[day.isoformat()])
    assert outcome == {"champion": weak_champion["version"], "previous": current, "rescored": [day.isoformat()]}
    last = _decisions(source)[-1]
    assert last["actor"] == "rollback" and last["promoted"] and last["reason"] == "tests: the new model misbehaves"
    count, _, _ = predictions_fingerprint(source, day, f"batchscore.{USE_CASE}_predictions")
    assert count == flights_on(source, day)
    with source.connect() as conn:
        versions = (
            conn.execute(
                sa.text(f"select distinct model_version from batchscore.{USE_CASE}_predictions where score_date = :d"),
                {"d": day},
            )
            .scalars()
            .all()
        )
    assert versions == [weak_champion["version"]]

    events_before = _champion_events()  # and back again, from the Airflow UI's DAG
    monkeypatch.setenv("BATCHSCORE_USECASES_DIR", str(weak_champion["strong"].parent))
    back = airflow_local.run_dag(f"{USE_CASE}__rollback", None, {"to_version": current, "reason": "tests: back again"})
    assert back.succeeded, back.summary()
    assert get_champion(source, USE_CASE).version == current
    assert _champion_events() == events_before + 1


def test_rollback_params_reject_injection_strings(source):
    with pytest.raises(ValueError, match="invalid params for flight_cancellation__rollback"):
        airflow_local.run_dag(
            "flight_cancellation__rollback", None, {"to_version": "v1'; drop table batchscore.predictions; --"}
        )
    with pytest.raises(ValueError, match="invalid params for flight_cancellation__rollback"):
        airflow_local.run_dag("flight_cancellation__rollback", None, {"rescore_dates": ["2013-02-30"]})


def test_two_promotions_at_once_leave_exactly_one_champion(source, weak_champion):
    with source.connect() as conn:
        candidates = (
            conn.execute(
                sa.text(
                    "select version from batchscore.model_versions where use_case = :u and status <> 'champion' "
                    "order by version limit 2"
                ),
                {"u": USE_CASE},
            )
            .scalars()
            .all()
        )
    assert len(candidates) == 2
    errors: list[Exception] = []

    def promote(version):
        try:
            promote_version(
                source,
                USE_CASE,
                version,
                {"actor": "tests", "run_id": f"race-{version}", "reason": "tests: concurrent promotion"},
            )
        except Exception as exc:  # any error in a thread must fail the test, not vanish with the thread
            errors.append(exc)

    threads = [threading.Thread(target=promote, args=(v,)) for v in candidates]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with source.connect() as conn:
        champions = (
            conn.execute(
                sa.text("select version from batchscore.model_versions where use_case = :u and status = 'champion'"),
                {"u": USE_CASE},
            )
            .scalars()
            .all()
        )
    assert len(champions) == 1 and champions[0] in candidates
    assert not errors
