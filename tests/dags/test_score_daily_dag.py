"""The scoring DAG of a use case (flight_cancellation__score): the DAG folder imports cleanly and light, the DAG
is wired as documented, and really runs through Airflow."""

import datetime as dt
import subprocess
import sys
from datetime import timedelta

import pytest
import sqlalchemy as sa

from pipeline.cli import main
from pipeline.config.loading import available_usecases
from pipeline.config.paths import project_root
from pipeline.orchestration import local as airflow_local
from tests.helpers import SCORE_DAILY_TASKS, flights_on, ledger, predictions_fingerprint

HEAVY = ("great_expectations", "sklearn", "pandas", "joblib", "numpy", "scipy", "pgserver", "tqdm")


@pytest.fixture(scope="module")
def dag():
    return airflow_local.load_dag("flight_cancellation__score")


def test_dag_folder_imports_without_errors_with_three_dags_per_use_case():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(project_root() / "dags"))
    assert bag.import_errors == {}
    names = available_usecases()
    assert {"flight_cancellation", "departure_disruption"} <= set(names)
    assert set(bag.dags) == {f"{n}__{kind}" for n in names for kind in ("score", "retrain", "rollback")}
    for dag_id, d in bag.dags.items():
        name, kind = dag_id.rsplit("__", 1)
        assert d.doc_md and name in d.doc_md and name in d.description
        assert {"batchscore", f"usecase:{name}", "scoring" if kind == "score" else "training"} == set(d.tags)


# declarations.py loads every use case fully (the estimators are constructed): the generating files must not
@pytest.mark.parametrize("dag_file", ["scoring.py", "retraining.py", "rollback.py"])
def test_dag_files_import_nothing_heavy_at_top_level(dag_file):
    code = f"import runpy, sys; runpy.run_path(sys.argv[1]); print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code, str(project_root() / "dags" / dag_file)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == ""


def test_the_retraining_dag_is_wired_and_scheduled_weekly():
    dag = airflow_local.load_dag("flight_cancellation__retrain")
    assert dag.timetable.expression == "0 3 * * 0" and dag.catchup is False and dag.max_active_runs == 1
    order = [
        "build_training_set",
        "validate_training_set",
        "train_challenger",
        "evaluate",
        "decide",
        "promote",
        "report",
    ]
    for upstream, downstream in zip(order, order[1:], strict=False):
        assert downstream in dag.get_task(upstream).downstream_task_ids, (upstream, downstream)
    assert [(o.name, o.uri) for o in dag.get_task("promote").outlets] == [
        ("flight_cancellation__champion", "model://flight_cancellation/champion")
    ]
    assert set(dag.params.keys()) == {"cutoff_date", "dry_run", "force"}


def test_tasks_are_chained_extract_validate_features_score_publish_monitor_report(dag):
    assert set(dag.task_ids) == SCORE_DAILY_TASKS
    downstream = {t: set(dag.get_task(t).downstream_task_ids) for t in dag.task_ids}
    assert downstream["extract"] >= {"validate"}
    assert "build_features" in downstream["validate"]
    assert {"plan_shards", "shadow_score", "measure_drift"} <= downstream["build_features"]
    assert downstream["plan_shards"] == {"score"}
    assert downstream["score"] == {"publish"} and downstream["measure_drift"] == {"publish"}
    assert set(dag.get_task("publish").upstream_task_ids) == {
        "extract",
        "validate",
        "build_features",
        "score",
        "shadow_score",
        "measure_drift",
    }
    assert dag.get_task("score").is_mapped  # one task instance per shard
    score = dag.get_task("score")  # queued before measure_drift and shadow_score, which must not hold a shard back
    assert score.priority_weight > dag.get_task("measure_drift").priority_weight
    assert "absolute" in str(score.weight_rule)
    assert downstream["publish"] == {"monitor"}
    assert downstream["monitor"] == {"refresh_report"} and downstream["refresh_report"] == set()


def test_schedule_and_run_policy(dag):
    assert dag.timetable.expression == "0 22 * * *"
    assert dag.catchup is False and dag.max_active_runs == 1
    assert "batchscore" in dag.tags and "flight_cancellation__score" in dag.doc_md
    declared = airflow_local.load_dag("flight_cancellation__score", retries=None)  # as the DAG file declares them
    task = declared.get_task("score")
    assert task.retries == 2
    assert task.retry_exponential_backoff and task.max_retry_delay == timedelta(minutes=20)
    assert task.on_failure_callback
    assert airflow_local.load_dag("flight_cancellation__score").get_task("score").retries == 0  # local runs fail fast


def test_score_date_param_is_a_typed_optional_date(dag):
    from airflow.sdk.exceptions import ParamValidationError

    schema = dag.params.get_param("score_date").schema
    assert schema["format"] == "date" and "null" in schema["type"]
    import copy

    for bad in ("2013-02-30", "13-07-01", "2013-07-01'; drop table batchscore.predictions; --"):
        params = copy.deepcopy(dag.params)
        with pytest.raises(ParamValidationError):
            params.update({"score_date": bad})
            params.validate()


def test_dag_run_scores_and_publishes_a_date_end_to_end(champion, source):
    day = dt.date(2013, 7, 20)
    outcome = airflow_local.run_dag("flight_cancellation__score", day)
    assert outcome.succeeded, outcome.summary()
    count, _, run_ids = predictions_fingerprint(source, day)
    assert count == flights_on(source, day) and run_ids == outcome.run_id
    [row] = ledger(source, outcome.run_id)
    assert row["status"] == "succeeded" and row["rows_out"] == count


def test_dag_rerun_of_a_date_replaces_without_duplicates(champion, source):
    day = dt.date(2013, 7, 21)
    first = airflow_local.run_dag("flight_cancellation__score", day)
    before = predictions_fingerprint(source, day)
    second = airflow_local.run_dag("flight_cancellation__score", day)
    after = predictions_fingerprint(source, day)
    assert first.succeeded and second.succeeded
    assert after[:2] == before[:2] and after[2] == second.run_id


def test_dag_run_for_a_date_without_data_fails_at_validate_and_publishes_nothing(champion, source):
    outcome = airflow_local.run_dag("flight_cancellation__score", dt.date(2014, 3, 1))
    assert outcome.state == "failed" and outcome.failed_tasks == ["validate"]
    assert outcome.reason == (
        "validation failed for 2014-03-01: batch is empty (0 rows); source data ends 61 day(s) before the score date"
    )
    assert predictions_fingerprint(source, dt.date(2014, 3, 1))[0] == 0
    assert [r["status"] for r in ledger(source, outcome.run_id)] == ["rejected"]


def test_a_malformed_date_in_run_conf_fails_before_any_task(dag, champion, source):
    from airflow.sdk.exceptions import ParamValidationError

    with source.connect() as conn:
        runs_before = conn.execute(sa.text("select count(*) from batchscore.scoring_runs")).scalar()
    with pytest.raises(ParamValidationError, match="score_date"):
        dag.test(
            logical_date=dt.datetime(2013, 7, 1, 22, tzinfo=dt.UTC),
            run_conf={**airflow_local.param_defaults("flight_cancellation__score"), "score_date": "2013-13-45"},
        )
    with source.connect() as conn:
        assert conn.execute(sa.text("select count(*) from batchscore.scoring_runs")).scalar() == runs_before


def test_cli_run_exits_non_zero_with_the_reason(champion, capsys):
    assert main(["run", "flight_cancellation__score", "--date", "2014-03-01"]) == 1
    assert "validation failed for 2014-03-01: batch is empty (0 rows)" in capsys.readouterr().out
    assert main(["run", "flight_cancellation__score", "--date", "2014-02-30"]) == 1
    assert "--date must be a date in the form YYYY-MM-DD" in capsys.readouterr().err
