"""<use case>__score: the scoring DAG of every use case in ``usecases/``. Wiring only; every task calls one
function of ``pipeline.tasks`` with the use case's name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import Param, dag, get_current_context, task

from pipeline import tasks

DOC = """
### {dag_id}: batch scoring of `{name}`

{description}

**Schedule:** {schedule}. A scheduled run scores **{scores}** relative to the date it fires on (in
{timezone}); to (re-)score a given day, trigger with the `score_date` param (YYYY-MM-DD). The predictions go
to the use case's predictions table, where BI tools read them (use case `{name}`, file `usecases/{name}.toml`).

| task | what it does |
|---|---|
| `extract` | runs the use case's batch query for the score date into a run-scoped staging table |
| `validate` | the fail-closed Great Expectations gate, executed inside Postgres; a critical failure stops the run |
| `build_features` | derives the model inputs with the use case's feature query, in Postgres (and each row's shard) |
| `measure_drift` | compares the inputs with the champion's training data (PSI, null rates, unseen categories) |
| `plan_shards` | the run's shards: the `shards` param, else `BATCHSCORE_SHARDS`, else `[scoring] shards`, else 1 |
| `score` | one mapped task per shard: streams its rows through the champion in chunks (COPY out, predict, COPY in) |
| `shadow_score` | scores the challenger in trial, if any (`[shadow]`), for the shadow table only |
| `publish` | in one transaction: the date's predictions (and shadow scores) and the `scoring_runs` row |
| `monitor` | drift of the scores, performance of past dates whose labels arrived, alerts, the BI views |
| `refresh_report` | rewrites the HTML report (`$BATCHSCORE_HOME/reports/{name}.html`; path in the log) |

**Alerts** (a failed task, validation warnings, drift, degraded performance) go to the task log, and to the
webhook or e-mail of the Airflow connection `batchscore_alerts` when it exists; each breach is sent once.

Re-runs replace that date's predictions; they never duplicate them, and a failed run leaves them as they were.

**Scale-out.** With N shards the batch is split by a stable hash of the entity id and the N `score` tasks run
on as many workers as the executor gives; `publish` commits all shards in one transaction, so a failed shard
publishes nothing. The predictions are exactly those of an unsharded run.
"""


def scoring_dag(uc: tasks.DeclaredUseCase) -> None:
    """The scoring DAG of one use case."""
    name = uc.name

    @dag(
        dag_id=uc.dag_id("score"),
        description=f"Batch scoring of {name}, {uc.schedule_text('score')}: extract, validate, features, score, "
        "publish atomically, monitor.",
        schedule=uc.timetable("score"),
        start_date=datetime(2013, 1, 1, tzinfo=UTC),
        catchup=False,
        max_active_runs=1,
        default_args=tasks.dag_defaults(
            retries=2,
            retry_delay=timedelta(minutes=2),
            max_retry_delay=timedelta(minutes=20),
            execution_timeout=timedelta(hours=2),
            usecase=name,
            record_ledger=True,
        ),
        params={
            "score_date": Param(
                None,
                type=["null", "string"],
                format="date",
                pattern=tasks.DATE_PATTERN,
                title="Score date",
                description=f"Date to score (YYYY-MM-DD). Empty: {uc.schedule.scores} relative to the run's date.",
            ),
            "shards": Param(
                None,
                type=["null", "integer"],
                minimum=1,
                maximum=64,
                title="Shards",
                description="Score in this many parallel shards. Empty: BATCHSCORE_SHARDS, else the use case's "
                "[scoring] shards, else 1.",
            ),
        },
        doc_md=DOC.format(
            dag_id=uc.dag_id("score"),
            name=name,
            description=uc.description,
            schedule=uc.schedule_text("score"),
            scores=uc.schedule.scores,
            timezone=uc.schedule.timezone,
        ),
        tags=["batchscore", f"usecase:{name}", "scoring"],
    )
    def score_dag():
        @task
        def extract() -> tasks.Batch:
            ctx = get_current_context()
            day = tasks.score_date_for(
                ctx["params"].get("score_date"), ctx.get("data_interval_end"), ctx["dag_run"].run_after, name
            )
            return tasks.extract(day, ctx["run_id"], usecase=name)

        @task
        def validate(batch: tasks.Batch) -> tasks.Validation:
            return tasks.validate(batch)

        @task
        def build_features(batch: tasks.Batch) -> tasks.Features:
            return tasks.build_features(batch, get_current_context()["params"].get("shards"))

        @task
        def measure_drift(batch: tasks.Batch) -> tasks.Drift:
            return tasks.measure_drift(batch)

        @task
        def plan_shards(features: tasks.Features) -> list[tasks.Shard]:
            return tasks.shard_plan(features)

        # the shards first: with as many worker slots as shards, measure_drift or shadow_score taking a slot would
        # hold one shard back and serialise the scale-out
        @task(priority_weight=100, weight_rule="absolute")
        def score(batch: tasks.Batch, shard: tasks.Shard) -> tasks.Scores:
            return tasks.score(batch, shard)

        @task
        def shadow_score(batch: tasks.Batch) -> tasks.Scores | tasks.NoShadow:
            return tasks.shadow_score(batch)

        @task
        def publish(
            batch: tasks.Batch,
            validation: tasks.Validation,
            features: tasks.Features,
            scores: list[tasks.Scores],
            shadow: tasks.Scores | tasks.NoShadow,
        ) -> tasks.Published:
            # index within len(): iterating reads one past the end and logs a spurious "XCom not found" error
            return tasks.publish(batch, validation, features, [scores[i] for i in range(len(scores))], shadow)

        @task(on_success_callback=tasks.monitor_notifier(name))
        def monitor(batch: tasks.Batch) -> tasks.Monitored:
            return tasks.monitor(batch)

        @task
        def refresh_report(batch: tasks.Batch) -> tasks.Report:
            return tasks.refresh_report(batch)

        batch = extract()
        validation = validate(batch)
        features = build_features(batch)
        validation >> features
        drift = measure_drift(batch)
        scores = score.partial(batch=batch).expand(shard=plan_shards(features))
        shadow = shadow_score(batch)
        features >> [drift, shadow]
        published = publish(batch, validation, features, scores, shadow)
        drift >> published
        monitored = monitor(batch)
        published >> monitored >> refresh_report(batch)

    score_dag()


for declared in tasks.declared_usecases():
    scoring_dag(declared)
