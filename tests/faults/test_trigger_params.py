"""Trigger params: malformed dates, unknown model versions and SQL-injection strings are rejected before any
task touches data (the DAGs' Param schemas are enforced by Airflow when a run is created)."""

import copy
import datetime as dt

import pytest
import sqlalchemy as sa

from pipeline.orchestration import local as airflow_local

INJECTIONS = (
    "2013-07-01'; drop table batchscore.predictions; --",
    "' or '1'='1",
    "v1; delete from batchscore.model_versions",
    '2013-07-01"); select pg_sleep(10); --',
    "$$; truncate batchscore.scoring_runs; $$",
)
MALFORMED_DATES = ("2013-13-45", "2013-02-30", "13-07-01", "20130701", "tomorrow", "")
MALFORMED_VERSIONS = ("latest", "V1", "v", "1", "v1 ", "champion")

# every string param of every DAG (array items included), with the bad values to try
CASES = [
    *[("flight_cancellation__score", {"score_date": v}) for v in (*MALFORMED_DATES, *INJECTIONS)],
    *[("flight_cancellation__retrain", {"cutoff_date": v}) for v in (*MALFORMED_DATES, *INJECTIONS)],
    *[("flight_cancellation__rollback", {"to_version": v}) for v in (*MALFORMED_VERSIONS, *INJECTIONS)],
    *[("flight_cancellation__rollback", {"rescore_dates": ["2013-07-01", v]}) for v in (*MALFORMED_DATES, *INJECTIONS)],
    ("flight_cancellation__rollback", {"reason": ""}),
    ("flight_cancellation__rollback", {"reason": "x" * 501}),
    ("flight_cancellation__retrain", {"dry_run": "true; drop table x"}),
]


def _state(engine) -> tuple:
    from pipeline.config.loading import load_usecase
    from pipeline.db.predictions import ensure_predictions_table

    with engine.begin() as conn:  # the table may not exist yet in a fresh test database (it comes with a publish)
        ensure_predictions_table(conn, load_usecase("flight_cancellation"))
    with engine.connect() as conn:
        return tuple(
            conn.execute(
                sa.text(
                    "select (select count(*) from batchscore.scoring_runs), "
                    "(select count(*) from batchscore.predictions), "
                    "(select count(*) from batchscore.promotion_decisions), "
                    "(select string_agg(version || ':' || status, ',' order by version) "
                    "from batchscore.model_versions), "
                    "(select count(*) from batchscore.validation_results), "
                    "(select count(*) from pg_tables where schemaname = 'batchscore_staging')"
                )
            ).one()
        )


@pytest.mark.parametrize(("dag_id", "conf"), CASES, ids=[f"{d}-{i}" for i, (d, _) in enumerate(CASES)])
def test_a_bad_trigger_param_is_rejected_before_any_task_runs(champion, source, dag_id, conf):
    from airflow.sdk.exceptions import ParamValidationError

    dag = airflow_local.load_dag(dag_id)
    before = _state(source)
    params = copy.deepcopy(dag.params)
    with pytest.raises(ParamValidationError):  # what Airflow runs when the API/UI/CLI creates a run
        params.update({**airflow_local.param_defaults(dag_id), **conf})
        params.validate()
    with pytest.raises(ParamValidationError):  # a run with that conf never starts a task
        dag.test(
            logical_date=dt.datetime(2013, 9, 1, 22, tzinfo=dt.UTC),
            run_conf={**airflow_local.param_defaults(dag_id), **conf},
        )
    assert _state(source) == before


def test_an_unknown_model_version_fails_the_rollback_before_anything_changes(champion, source):
    before = _state(source)
    outcome = airflow_local.run_dag(
        "flight_cancellation__rollback", None, {"to_version": "v999", "rescore_dates": ["2013-09-05"]}
    )
    assert outcome.state == "failed" and outcome.failed_tasks == ["rollback"]
    assert _state(source) == before  # no promotion decision, no champion switch, nothing re-scored


def test_every_string_param_of_every_dag_has_a_strict_schema():
    loose = []
    for dag_id in ("flight_cancellation__score", "flight_cancellation__retrain", "flight_cancellation__rollback"):
        dag = airflow_local.load_dag(dag_id)
        for name in dag.params:
            schema = dag.params.get_param(name).schema
            types = schema.get("type")
            kinds = types if isinstance(types, list) else [types]
            if "string" in kinds and not ({"format", "pattern", "enum"} & schema.keys() or "maxLength" in schema):
                loose.append(f"{dag_id}.{name}")
            if "array" in kinds and "format" not in schema.get("items", {}):
                loose.append(f"{dag_id}.{name}[]")
    assert loose == []
