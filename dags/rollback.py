"""<use case>__rollback: restore a former champion of a use case from the Airflow UI, for every use case in
``usecases/``. Wiring only: one task, one call of ``pipeline.tasks``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import Asset, Param, dag, get_current_context, task

from pipeline import tasks

DOC = """
### {dag_id}: put a former champion of `{name}` back

Makes `to_version` (or, when empty, the most recently archived former champion of `{name}`) the champion again,
in one transaction under the registry lock. Only a former champion can be restored, unless `force` is set (the
decision is then logged as forced, with your reason); a version that never was champion has not passed the
promotion rule. The switch is logged in `batchscore.promotion_decisions` with actor `rollback` and your reason,
and emits `model://{name}/champion`. Optionally re-scores `rescore_dates` with the restored champion (each date
replaces its predictions atomically). Manual only. The same as
`batchscore model rollback --usecase {name} [--to VERSION] [--rescore ...]`.
"""


def rollback_dag(uc: tasks.DeclaredUseCase) -> None:
    """The rollback DAG of one use case."""
    name = uc.name
    champion = Asset(name=uc.champion_asset[0], uri=uc.champion_asset[1])

    @dag(
        dag_id=uc.dag_id("rollback"),
        description=f"Put a former champion of {name} back (logged with its reason), optionally re-scoring dates.",
        schedule=None,
        start_date=datetime(2013, 1, 1, tzinfo=UTC),
        catchup=False,
        max_active_runs=1,
        default_args=tasks.dag_defaults(
            retries=0, retry_delay=timedelta(minutes=1), execution_timeout=timedelta(hours=3), usecase=name
        ),
        params={
            "to_version": Param(
                None,
                type=["null", "string"],
                pattern="^v[0-9]+$",
                title="Version to restore",
                description="e.g. v3. Empty: the most recently archived former champion.",
            ),
            "rescore_dates": Param(
                [],
                type="array",
                items={"type": "string", "format": "date", "pattern": tasks.DATE_PATTERN},
                title="Dates to re-score",
                description="YYYY-MM-DD dates, re-scored after the switch.",
            ),
            "reason": Param(
                "rollback requested from the Airflow UI",
                type="string",
                minLength=3,
                maxLength=500,
                title="Reason",
                description="Why: recorded in promotion_decisions.",
            ),
            "force": Param(
                False,
                type="boolean",
                title="Force",
                description="Restore a version that never was champion (logged as forced, with the reason).",
            ),
        },
        doc_md=DOC.format(dag_id=uc.dag_id("rollback"), name=name),
        tags=["batchscore", f"usecase:{name}", "training"],
    )
    def rollback_dag_():
        @task(outlets=[champion])
        def rollback() -> tasks.RollbackOutcome:
            ctx = get_current_context()
            p = ctx["params"]
            outcome = tasks.rollback(
                p["to_version"],
                reason=p["reason"],
                run_id=ctx["run_id"],
                rescore_dates=list(p["rescore_dates"]),
                usecase=name,
                force=p["force"],
            )
            ctx["outlet_events"][champion].extra = {
                "use_case": name,
                "version": outcome["champion"],
                "previous": outcome["previous"],
            }
            return outcome

        rollback()

    rollback_dag_()


for declared in tasks.declared_usecases():
    rollback_dag(declared)
