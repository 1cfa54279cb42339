"""<use case>__retrain: champion/challenger retraining of every use case in ``usecases/``. Wiring only; every task
calls one function of ``pipeline.tasks`` with the use case's name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import Asset, Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowSkipException

from pipeline import tasks

DOC = """
### {dag_id}: champion/challenger retraining of `{name}`

{description}

**Schedule:** {schedule}. Build a point-in-time training set as of the cut-off (only labels known then), put
it through the training suite, fit a challenger as `usecases/{name}.toml` declares it, score champion and
challenger on the **same out-of-time holdout**, and promote the challenger only when the rule says so (the
primary metric better by a margin, a paired bootstrap that shows it is not noise, and the kind's guardrails).
Every decision is logged in `batchscore.promotion_decisions` with its evidence; a promotion switches the
champion in one transaction and emits the asset event `model://{name}/champion` (a non-promotion emits none).

| param | meaning |
|---|---|
| `cutoff_date` | train as of this date (YYYY-MM-DD); empty: the run's own date (in {timezone}) |
| `dry_run` | decide and record, change nothing |
| `force` | promote even when the improvement is not significant (guardrails still apply); logged as forced |
"""


def retraining_dag(uc: tasks.DeclaredUseCase) -> None:
    """The retraining DAG of one use case."""
    name = uc.name
    champion = Asset(name=uc.champion_asset[0], uri=uc.champion_asset[1])

    @dag(
        dag_id=uc.dag_id("retrain"),
        description=f"Retraining of {name}, {uc.schedule_text('retrain')}: promote only on the same evidence, "
        "every decision logged.",
        schedule=uc.timetable("retrain"),
        start_date=datetime(2013, 1, 1, tzinfo=UTC),
        catchup=False,
        max_active_runs=1,
        default_args=tasks.dag_defaults(
            retries=1, retry_delay=timedelta(minutes=5), execution_timeout=timedelta(hours=6), usecase=name
        ),
        params={
            "cutoff_date": Param(
                None,
                type=["null", "string"],
                format="date",
                pattern=tasks.DATE_PATTERN,
                title="Cut-off date",
                description="Train as of this date (YYYY-MM-DD). Empty: the run's own date.",
            ),
            "dry_run": Param(False, type="boolean", title="Dry run", description="Decide and record, change nothing."),
            "force": Param(
                False,
                type="boolean",
                title="Force",
                description="Promote even without a significant gain (guardrails still apply).",
            ),
        },
        doc_md=DOC.format(
            dag_id=uc.dag_id("retrain"),
            name=name,
            description=uc.description,
            schedule=uc.schedule_text("retrain"),
            timezone=uc.schedule.timezone,
        ),
        tags=["batchscore", f"usecase:{name}", "training"],
    )
    def retrain_dag():
        @task
        def build_training_set() -> tasks.TrainingSet:
            ctx = get_current_context()
            cutoff = tasks.cutoff_for(
                ctx["params"].get("cutoff_date"), ctx.get("data_interval_end"), ctx["dag_run"].run_after, name
            )
            return tasks.build_training_set(cutoff, ctx["run_id"], usecase=name)

        @task
        def validate_training_set(training_set: tasks.TrainingSet) -> dict[str, str]:
            return tasks.validate_training_set(training_set)

        @task
        def train_challenger(training_set: tasks.TrainingSet) -> tasks.Challenger:
            return tasks.train_challenger(training_set, created_by=_actor())

        @task
        def evaluate(training_set: tasks.TrainingSet, challenger: tasks.Challenger) -> tasks.Evaluation:
            return tasks.evaluate(training_set, challenger)

        @task
        def decide(training_set: tasks.TrainingSet, evaluation: tasks.Evaluation) -> tasks.PromotionDecision:
            return tasks.decide(training_set, evaluation, force=get_current_context()["params"]["force"])

        @task(outlets=[champion])
        def promote(
            training_set: tasks.TrainingSet, evaluation: tasks.Evaluation, decision: tasks.PromotionDecision
        ) -> tasks.PromotionOutcome:
            ctx = get_current_context()
            outcome = tasks.promote(
                training_set, evaluation, decision, dry_run=ctx["params"]["dry_run"], actor=_actor()
            )
            if not outcome["promoted"]:
                raise AirflowSkipException(f"champion unchanged: {decision['reason']}")  # no asset event
            ctx["outlet_events"][champion].extra = {
                "use_case": training_set["use_case"],
                "version": outcome["champion"],
                "previous": outcome["previous"],
            }
            return outcome

        @task(trigger_rule="none_failed")
        def report(
            training_set: tasks.TrainingSet, challenger: tasks.Challenger, decision: tasks.PromotionDecision
        ) -> str:
            return tasks.report(training_set, challenger, decision)

        # (not `ts`: Airflow reserves that name for the run's timestamp)
        training_set = build_training_set()
        checked = validate_training_set(training_set)
        challenger = train_challenger(training_set)
        checked >> challenger
        evaluation = evaluate(training_set, challenger)
        decision = decide(training_set, evaluation)
        promotion = promote(training_set, evaluation, decision)
        promotion >> report(training_set, challenger, decision)

    retrain_dag()


def _actor() -> str:
    return "schedule" if get_current_context()["dag_run"].run_type == "scheduled" else "manual"


for declared in tasks.declared_usecases():
    retraining_dag(declared)
