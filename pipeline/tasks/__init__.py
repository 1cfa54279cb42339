"""The entry point of every DAG task (the one module the DAG files import), and of the same steps run without
Airflow (``batchscore score``, ``batchscore retrain``, ``batchscore model rollback``).

Each function takes identifiers (a use case reference, an ISO date, a run id, the small typed dicts earlier steps
returned) and returns a small typed dict (:mod:`pipeline.contracts`): exactly what XCom should carry. Each loads
the engine and the use case, then calls the one module that does the step, so a DAG task is one hop from its
behaviour. Nothing here imports Airflow at import time: :func:`dag_defaults` and :func:`monitor_notifier` import
the Airflow side (:mod:`pipeline.orchestration.callbacks`) when a DAG file asks for them.

:mod:`.nightly` holds the tasks of a use case's scoring DAG (``<use case>__score``), :mod:`.weekly` those of its
retraining and rollback DAGs, :mod:`.common` what they share, :mod:`.declared` the use cases the DAG files
generate DAGs for (read from the TOML files alone).
"""

from __future__ import annotations

from pipeline.contracts import (
    Batch,
    Challenger,
    Drift,
    Evaluation,
    Features,
    Monitored,
    NightSummary,
    NoShadow,
    PromotionDecision,
    PromotionOutcome,
    Published,
    Report,
    RollbackOutcome,
    Scores,
    Shard,
    TrainingSet,
    Validation,
)
from pipeline.tasks.check import DeclarationCheck, DeclarationError, check_lines, check_usecase
from pipeline.tasks.common import (
    DATE_PATTERN,
    check_score_date,
    cutoff_for,
    dag_defaults,
    monitor_notifier,
    score_date_for,
)
from pipeline.tasks.declared import DeclarationsRefused, DeclaredUseCase, check_declarations, declared_usecases
from pipeline.tasks.nightly import (
    build_features,
    extract,
    measure_drift,
    monitor,
    publish,
    record_failure,
    refresh_report,
    run_night,
    score,
    shadow_score,
    shard_plan,
    validate,
)
from pipeline.tasks.weekly import (
    RescoreFailed,
    build_training_set,
    decide,
    evaluate,
    promote,
    register_model,
    report,
    rollback,
    run_retrain,
    train_challenger,
    validate_training_set,
)

__all__ = [
    "DeclarationCheck",
    "DeclarationError",
    "check_lines",
    "check_usecase",
    "DATE_PATTERN",
    "Batch",
    "Challenger",
    "DeclarationsRefused",
    "DeclaredUseCase",
    "Drift",
    "Evaluation",
    "Features",
    "Monitored",
    "NightSummary",
    "NoShadow",
    "PromotionDecision",
    "PromotionOutcome",
    "Published",
    "Report",
    "RescoreFailed",
    "RollbackOutcome",
    "Scores",
    "Shard",
    "TrainingSet",
    "Validation",
    "build_features",
    "build_training_set",
    "check_declarations",
    "check_score_date",
    "cutoff_for",
    "dag_defaults",
    "declared_usecases",
    "decide",
    "evaluate",
    "extract",
    "measure_drift",
    "monitor",
    "monitor_notifier",
    "promote",
    "publish",
    "record_failure",
    "refresh_report",
    "register_model",
    "report",
    "rollback",
    "run_night",
    "run_retrain",
    "score",
    "score_date_for",
    "shadow_score",
    "shard_plan",
    "train_challenger",
    "validate",
    "validate_training_set",
]
