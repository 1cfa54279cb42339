"""retrain_weekly: train a challenger and promote it only when it beats the champion. Wiring only; every task
calls one function of ``pipeline.tasks``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import Asset, CronTriggerTimetable, Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowSkipException

from pipeline import tasks

CHAMPION = Asset(name="champion_model", uri="model://champion")

DOC = """
### retrain_weekly: champion/challenger retraining

Every Sunday at 03:00 UTC: build a point-in-time training set as of the cut-off (only labels known then), put
it through the training suite, fit a challenger with the use case's hyper-parameters and seed, score champion
and challenger on the **same out-of-time holdout**, and promote the challenger only when the rule says so
(primary metric better by a margin, a paired bootstrap that shows it is not noise, calibration and flagged-share
guardrails). Every decision is logged in `batchscore.promotion_decisions` with its evidence; a promotion switches
the champion in one transaction and emits the asset event `model://champion` (a non-promotion emits none).

| param | meaning |
|---|---|
| `cutoff_date` | train as of this date (YYYY-MM-DD); empty: the run's own date |
| `dry_run` | decide and record, change nothing |
| `force` | promote even when the improvement is not significant (guardrails still apply); logged as forced |
"""


@dag(
    dag_id="retrain_weekly",
    description="Weekly champion/challenger retraining: promote only on the same evidence, every decision logged.",
    schedule=CronTriggerTimetable("0 3 * * 0", timezone="UTC"),
    start_date=datetime(2013, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args=tasks.dag_defaults(retries=1, retry_delay=timedelta(minutes=5), execution_timeout=timedelta(hours=6)),
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
    doc_md=DOC,
    tags=["batchscore", "training"],
)
def retrain_weekly():
    @task
    def build_training_set() -> tasks.TrainingSet:
        ctx = get_current_context()
        cutoff = tasks.cutoff_for(
            ctx["params"].get("cutoff_date"), ctx.get("data_interval_end"), ctx["dag_run"].run_after
        )
        return tasks.build_training_set(cutoff, ctx["run_id"])

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

    @task(outlets=[CHAMPION])
    def promote(
        training_set: tasks.TrainingSet, evaluation: tasks.Evaluation, decision: tasks.PromotionDecision
    ) -> tasks.PromotionOutcome:
        ctx = get_current_context()
        outcome = tasks.promote(training_set, evaluation, decision, dry_run=ctx["params"]["dry_run"], actor=_actor())
        if not outcome["promoted"]:
            raise AirflowSkipException(f"champion unchanged: {decision['reason']}")  # no asset event
        ctx["outlet_events"][CHAMPION].extra = {
            "use_case": training_set["use_case"],
            "version": outcome["champion"],
            "previous": outcome["previous"],
        }
        return outcome

    @task(trigger_rule="none_failed")
    def report(training_set: tasks.TrainingSet, challenger: tasks.Challenger, decision: tasks.PromotionDecision) -> str:
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


def _actor() -> str:
    return "schedule" if get_current_context()["dag_run"].run_type == "scheduled" else "manual"


retrain_weekly()
