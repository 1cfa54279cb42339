"""Every use case of the deployment live at once: each gets its own DAGs, scoring into its own table and ledger rows
without touching the other's; a refused use-case file is an import error naming the file and key while the other
use cases stay live (in the metadata database, as `airflow dags list-import-errors` and the UI show it); a
schedule of "none" makes a manual-only DAG; `batchscore run` addresses any use case and refuses a conf key its DAG
does not declare."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from pipeline.cli import main
from pipeline.config.loading import load_usecase, with_overrides
from pipeline.config.paths import dags_dir, project_root, usecases_dir
from pipeline.orchestration import local as airflow_local
from tests.conftest import TRAIN_WINDOW
from tests.helpers import flights_on, ledger, predictions_fingerprint

NIGHTS = (dt.date(2013, 7, 15), dt.date(2013, 7, 16))
TABLES = {
    "flight_cancellation": "batchscore.predictions",
    "departure_disruption": "batchscore.departure_disruption_predictions",
}


@pytest.fixture(scope="module")
def disruption_champion(source):
    """The registered champion of departure_disruption, trained on the session's small window."""
    from pipeline.model.artifacts import ModelError
    from pipeline.model.registry import get_champion
    from pipeline.model.train import train_and_register

    uc = with_overrides(load_usecase("departure_disruption"), {f"training.{k}": v for k, v in TRAIN_WINDOW.items()})
    try:
        return get_champion(source, uc.name)
    except ModelError:
        return train_and_register(source, uc, created_by="tests")


def test_two_use_cases_score_the_same_nights_each_through_its_own_dag_into_its_own_table(
    champion, disruption_champion, source
):
    runs: dict[tuple[str, dt.date], str] = {}
    for day in NIGHTS:
        for name in TABLES:
            outcome = airflow_local.run_dag(f"{name}__score", day)
            assert outcome.succeeded, outcome.summary()
            assert outcome.dag_id == f"{name}__score"
            batch = airflow_local.task_return(outcome.dag_id, outcome.run_id, "extract")
            assert (batch["use_case"], batch["score_date"]) == (name, day.isoformat())
            runs[name, day] = outcome.run_id
    for day in NIGHTS:
        for name, table in TABLES.items():
            count, _, run_ids = predictions_fingerprint(source, day, table)
            assert count == flights_on(source, day) and run_ids == runs[name, day]
            rows = [r for r in ledger(source, runs[name, day]) if r["score_date"] == day]
            mine = [r for r in rows if r["use_case"] == name]
            assert [(r["status"], r["rows_out"], r["predictions_table"]) for r in mine] == [("succeeded", count, table)]
    with source.connect() as conn:
        # each table holds its own use case's model only (both champions are called v1: the ledger tells them apart)
        for name, table in TABLES.items():
            versions = conn.execute(sa.text(f"select distinct model_version from {table}")).scalars().all()
            other = next(n for n in TABLES if n != name)
            registered = (
                conn.execute(sa.text("select version from batchscore.model_versions where use_case = :u"), {"u": name})
                .scalars()
                .all()
            )
            assert set(versions) <= set(registered)
            # and the other use case's ledger never names this table
            named = conn.execute(
                sa.text("select count(*) from batchscore.scoring_runs where use_case = :u and predictions_table = :t"),
                {"u": other, "t": table},
            ).scalar()
            assert named == 0


def test_each_use_case_has_its_own_three_dags_with_its_schedule_and_champion_asset():
    for name in TABLES:
        uc = load_usecase(name)
        score = airflow_local.load_dag(f"{name}__score", retries=None)
        assert (score.timetable.expression, score.timetable.timezone) == (uc.schedule.score, "UTC")
        assert f"usecase:{name}" in score.tags and name in score.doc_md and uc.schedule.score in score.doc_md
        callbacks = score.get_task("publish").on_failure_callback
        assert any(getattr(c, "usecase", None) == name for c in callbacks)  # the ledger row names this use case
        retrain = airflow_local.load_dag(f"{name}__retrain")
        assert [(o.name, o.uri) for o in retrain.get_task("promote").outlets] == [
            (f"{name}__champion", f"model://{name}/champion")
        ]
        rollback = airflow_local.load_dag(f"{name}__rollback")
        assert rollback.schedule is None and set(rollback.params) == {
            "to_version",
            "rescore_dates",
            "reason",
            "force",
        }


def test_run_refuses_a_conf_key_the_dag_does_not_declare(champion, capsys):
    assert main(["run", "flight_cancellation__score", "--date", "2013-07-20", "--conf", '{"usecase": "x"}']) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "batchscore run: flight_cancellation__score has no param 'usecase'; its params: score_date, shards "
        "(the use case is the DAG's: run <use case>__<kind>, or the kind with --usecase)"
    ]
    assert main(["run", "departure_disruption__retrain", "--conf", '{"cutoff": "2013-07-01"}']) == 1
    assert capsys.readouterr().err.strip() == (
        "batchscore run: departure_disruption__retrain has no param 'cutoff'; its params: cutoff_date, dry_run, force"
    )


def test_run_takes_a_kind_with_usecase_and_refuses_a_dag_of_another_use_case(capsys):
    assert main(["run", "score", "--usecase", "departure_disruption", "--date", "2012-01-01"]) == 1
    # resolved to departure_disruption__score, whose window refuses the date before any run
    assert "outside the dates departure_disruption may score" in capsys.readouterr().err
    assert main(["run", "flight_cancellation__score", "--usecase", "departure_disruption"]) == 1
    assert capsys.readouterr().err.strip() == (
        "batchscore run: DAG flight_cancellation__score belongs to use case 'flight_cancellation', not to "
        "--usecase 'departure_disruption'"
    )
    assert main(["run", "score_daily"]) == 1
    assert "'score_daily' is not a DAG of batchscore" in capsys.readouterr().err


# --- a deployment's folder of use cases with refused files, parsed as Airflow's dag-processor does ------------------


def _variant(folder: Path, name: str, extra: str, base: str = "departure_disruption") -> Path:
    """A copy of a shipped use case under ``name`` with tables of its own, plus ``extra`` TOML appended."""
    text = (usecases_dir() / f"{base}.toml").read_text(encoding="utf-8")
    for old, new in (
        (f'name = "{base}"', f'name = "{name}"'),
        (f'predictions_table = "{base}_predictions"', f'predictions_table = "{name}_predictions"'),
        (f'shadow_table = "{base}_shadow"', f'shadow_table = "{name}_shadow"'),
    ):
        assert old in text, old
        text = text.replace(old, new)
    path = folder / f"{name}.toml"
    path.write_text(text + extra, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def refused_deployment(tmp_path_factory):
    """A use-case folder: the two shipped use cases, one with a bad cron, one with an unknown key, one manual-only
    and one scoring what happened (yesterday) in New York time."""
    folder = tmp_path_factory.mktemp("deployment_usecases")
    for name in TABLES:
        (folder / f"{name}.toml").write_text((usecases_dir() / f"{name}.toml").read_text(encoding="utf-8"))
    bad_cron = _variant(folder, "bad_cron", '\n[schedule]\nscore = "every night"\n')
    bad_key = _variant(folder, "bad_key", "")
    bad_key.write_text(bad_key.read_text().replace("[scoring]\n", "[scoring]\nshard = 2\n"))
    _variant(folder, "manual_only", '\n[schedule]\nscore = "none"\nretrain = "none"\n')
    _variant(
        folder,
        "what_happened",
        '\n[schedule]\nscore = "30 21 * * *"\ntimezone = "America/New_York"\nscores = "yesterday"\n',
    )
    return {"folder": folder, "bad_cron": bad_cron, "bad_key": bad_key}


def _airflow(env: dict[str, str], *args: str, ok: tuple[int, ...] = (0,)) -> str:
    out = subprocess.run(
        [str(Path(sys.executable).parent / "airflow"), *args], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode in ok, out.stderr[-3000:]
    return out.stdout


def test_a_refused_use_case_file_is_an_import_error_naming_file_and_key_and_the_others_stay_live(
    refused_deployment, tmp_path
):
    home = tmp_path / "airflow"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "BATCHSCORE_"))},
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_dir()),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR",
        "BATCHSCORE_HOME": str(tmp_path / "home"),
        "BATCHSCORE_USECASES_DIR": str(refused_deployment["folder"]),
        "PYTHONPATH": str(project_root()),
    }
    _airflow(env, "db", "migrate")
    _airflow(env, "dags", "reserialize")  # what the dag-processor does: parse every file, write the results
    listed = _airflow(env, "dags", "list-import-errors", "-o", "json", ok=(1,))  # exit 1: there are errors
    errors = json.loads(listed[listed.index("[") :])
    assert [e["filepath"] for e in errors] == ["declarations.py"]
    lines = errors[0]["error"].strip().splitlines()
    assert lines[-2:] == [
        f"{refused_deployment['bad_cron']}: 'schedule.score' must be a cron expression of 5 fields (minute hour day "
        "month weekday) or \"none\", got 'every night'",
        f"{refused_deployment['bad_key']}: 'scoring.shard': unknown key (did you mean 'shards'?)",
    ]
    assert "2 use-case files refused" in errors[0]["error"]
    with sqlite3.connect(home / "airflow.db") as db:
        dags = {
            dag_id: (stale, broken, summary)
            for dag_id, stale, broken, summary in db.execute(
                "select dag_id, is_stale, has_import_errors, timetable_summary from dag"
            )
        }
    live = {dag_id for dag_id, (stale, broken, _) in dags.items() if not stale and not broken}
    kinds = ("score", "retrain", "rollback")
    expected = {f"{n}__{k}" for n in (*TABLES, "manual_only", "what_happened", "bad_key") for k in kinds}
    assert live == expected == set(dags)  # no DAG of bad_cron (no schedule to give them); bad_key's fail at run
    assert dags["manual_only__score"][2] == dags["manual_only__retrain"][2] == "None"  # manual only
    assert dags["what_happened__score"][2] == "30 21 * * *"
    assert dags["flight_cancellation__score"][2] == "0 22 * * *"


def test_the_dag_files_alone_in_process_see_the_same(refused_deployment, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("BATCHSCORE_USECASES_DIR", str(refused_deployment["folder"]))
    bag = DagBag(dag_folder=str(dags_dir()))
    assert list(bag.import_errors) == [str(dags_dir() / "declarations.py")]
    assert "'scoring.shard': unknown key" in bag.import_errors[str(dags_dir() / "declarations.py")]
    assert "bad_cron__score" not in bag.dags and "flight_cancellation__score" in bag.dags
    assert bag.dags["manual_only__score"].schedule is None and bag.dags["manual_only__retrain"].schedule is None
    nightly = bag.dags["what_happened__score"]
    assert (nightly.timetable.expression, nightly.timetable.timezone) == ("30 21 * * *", "America/New_York")
    assert "yesterday" in nightly.doc_md and "America/New_York" in nightly.doc_md
