"""A tampered model artifact in a real DAG run: refused with a clear error, the run fails, earlier
predictions stay as they were."""

import datetime as dt

from pipeline.model.artifacts import resolve_artifact
from pipeline.orchestration import local as airflow_local
from tests.helpers import flights_on, ledger, predictions_fingerprint

DAY = dt.date(2013, 9, 4)


def test_a_tampered_artifact_fails_the_dag_run_at_score_and_keeps_the_published_date(champion, source):
    first = airflow_local.run_dag("flight_cancellation__score", DAY)
    assert first.succeeded, first.summary()
    before = predictions_fingerprint(source, DAY)
    assert before[0] == flights_on(source, DAY)

    path = resolve_artifact(champion.artifact_path)
    original = path.read_bytes()
    path.chmod(0o644)
    path.write_bytes(original[:-64] + bytes(64))  # same size, different bytes
    try:
        outcome = airflow_local.run_dag("flight_cancellation__score", DAY)
    finally:
        path.write_bytes(original)
        path.chmod(0o444)
    assert outcome.state == "failed" and outcome.failed_tasks == ["score"], outcome.summary()
    assert outcome.reason is not None
    assert outcome.reason.startswith(f"score: ModelError: model {champion.use_case} {champion.version}: artifact ")
    assert "refusing to load a modified artifact" in outcome.reason
    assert predictions_fingerprint(source, DAY) == before
    assert [r["status"] for r in ledger(source, outcome.run_id)] == ["failed"]
    print(f"fault report: before={before} after={predictions_fingerprint(source, DAY)} reason={outcome.reason!r}")
