"""What the steps of the DAGs hand each other (through XCom, or in one process): small typed dicts of identifiers,
counts and seconds, never data. The data stays in PostgreSQL, in the run's staging tables.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

# --- <name>__score ------------------------------------------------------------------------------------------------


class Batch(TypedDict):
    """extract -> every later task: which run, which date, where its batch is."""

    batch_table: str
    rows: int
    seconds: float
    score_date: str  # YYYY-MM-DD
    run_id: str
    use_case: str
    usecase_ref: str  # how to load the use case again (name or TOML path)
    started_at: str  # ISO timestamp


class Validation(TypedDict):
    """validate -> publish: the gate's verdict (critical failures never get here: they stop the run)."""

    status: str  # passed | passed_with_warnings
    evaluated: int
    skipped: int  # built-in checks that could not run (recorded with the reason)
    failed: int
    warnings: str | None
    seconds: float
    data_docs: str


class Shard(TypedDict):
    """One part of a sharded batch: ``score`` is mapped over these."""

    index: int
    count: int


class Features(TypedDict):
    """build_features -> plan_shards, publish."""

    features_table: str
    rows: int
    seconds: float
    shards: list[Shard]


class Drift(TypedDict):
    """measure_drift: what drifted in the inputs (the rows are in ``drift_metrics``)."""

    metrics: int
    drifted: list[str]
    insufficient: int
    max_psi: float | None
    model_version: NotRequired[str]


class Scores(TypedDict):
    """score (one shard) / shadow_score -> publish."""

    scores_table: str
    rows: int
    model_version: str
    model_sha256: str
    threshold: float | None
    chunks: int
    seconds: float
    rows_per_second: float
    shard: int
    shards: int


class NoShadow(TypedDict):
    """shadow_score when no challenger is in trial."""

    model_version: None
    seconds: float


class CombinedScores(TypedDict):
    """Every shard's scores, checked and summed (what publish publishes)."""

    model_version: str
    model_sha256: str
    threshold: float | None
    rows: int
    seconds: float
    shards: int
    chunks: int
    rows_per_second: float


class Published(TypedDict):
    """publish: what the swap did."""

    rows: int
    replaced: int
    table: str
    seconds: float


class Monitored(TypedDict):
    """monitor -> its alert notifier."""

    score_date: str
    run_id: str
    model_version: str
    drifted_features: list[str]
    score_psi: float | None
    performance_updated: int
    alerts_total: int
    new_alerts: list[dict[str, Any]]
    views: list[str]


class Report(TypedDict):
    """refresh_report: where the HTML report is."""

    path: str


class NightSummary(TypedDict):
    """One night without Airflow (``batchscore score``)."""

    score_date: str
    rows: int
    model_version: str
    shards: int
    rows_per_second: float
    drifted_features: list[str]
    new_alerts: int
    seconds: float


# --- <name>__retrain and <name>__rollback --------------------------------------------------------------------------


class TrainingSet(TypedDict):
    """build_training_set -> every later step of a retraining."""

    use_case: str
    usecase_ref: str
    run_id: str
    cutoff: str
    windows: dict[str, str]  # train_from, train_to, holdout_from, holdout_to (dates), known_at (timestamp)
    rows: dict[str, int]  # training, holdout


class TrainingValidation(TypedDict):
    """validate_training_set: the training suite's verdict on one set (a critical failure raises instead)."""

    status: str
    warnings: str | None
    seconds: float


class Challenger(TypedDict):
    """train_challenger: the registered candidate."""

    version: str
    sha256: str
    fit_seconds: float


class Evaluation(TypedDict):
    """evaluate: both versions scored on the same holdout rows (kept in staging)."""

    champion_version: str | None
    challenger_version: str
    holdout_rows: int
    classes: NotRequired[list[str] | None]  # multiclass: the order of the stored class probabilities


class PromotionDecision(TypedDict):
    """decide: the rule's verdict with its evidence."""

    promote: bool
    reason: str
    challenger_metrics: dict[str, float]
    champion_metrics: dict[str, float] | None
    improvement: float | None
    bootstrap: dict[str, float]
    guardrails: dict[str, Any]
    forced: bool
    rule: dict[str, Any]


class PromotionOutcome(TypedDict):
    """promote / rollback: the champion after the step."""

    promoted: bool
    champion: str | None
    previous: str | None


class RollbackOutcome(TypedDict):
    """rollback: the restored champion and the dates re-scored with it."""

    champion: str
    previous: str | None
    rescored: list[str]
