"""The tasks of a use case's retraining and rollback DAGs (``<name>__retrain``, ``<name>__rollback``), and the
same steps without Airflow (``batchscore retrain``, ``batchscore model rollback``)."""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING

from pipeline.contracts import (
    Challenger,
    Evaluation,
    PromotionDecision,
    PromotionOutcome,
    RollbackOutcome,
    TrainingSet,
)
from pipeline.errors import ConfigError, PipelineStateError
from pipeline.tasks.check import check_usecase
from pipeline.tasks.common import check_score_date, context
from pipeline.tasks.nightly import run_night

if TYPE_CHECKING:  # the model packages load pandas and scikit-learn: only inside a task
    from pipeline.model.external import Registered

log = logging.getLogger(__name__)


# --- <name>__retrain -------------------------------------------------------------------------------------------


def build_training_set(cutoff: str, run_id: str, usecase: str | None = None) -> TrainingSet:
    """The point-in-time training and holdout sets as of ``cutoff``, in staging (:mod:`pipeline.model.retrain`)."""
    from pipeline.model import retrain

    check_usecase(usecase, at_run=True)  # the declaration first: every problem at once, before any work
    engine, uc, _ = context(usecase)
    return retrain.build_training_set(engine, uc, check_score_date(uc, cutoff, "cutoff_date"), run_id)


def validate_training_set(ts: TrainingSet) -> dict[str, str]:
    """The training suite on both sets, inside Postgres; raises ValidationFailed before any fit."""
    from pipeline.model import retrain

    engine, uc, _ = context(ts["usecase_ref"])
    return retrain.validate_training_set(engine, uc, ts)


def train_challenger(ts: TrainingSet, created_by: str = "schedule") -> Challenger:
    """Fit, store and register the challenger as a candidate."""
    from pipeline.model import retrain

    engine, uc, _ = context(ts["usecase_ref"])
    return retrain.train_challenger(engine, uc, ts, created_by)


def evaluate(ts: TrainingSet, challenger: Challenger) -> Evaluation:
    """Champion and challenger scored on the same holdout rows."""
    from pipeline.model import retrain

    engine, uc, _ = context(ts["usecase_ref"])
    return retrain.evaluate(engine, uc, ts, challenger)


def decide(ts: TrainingSet, evaluation: Evaluation, force: bool = False) -> PromotionDecision:
    """The promotion rule applied to the evaluation (:mod:`pipeline.model.promotion`)."""
    from pipeline.model import retrain

    engine, uc, _ = context(ts["usecase_ref"])
    return retrain.decide(engine, uc, ts, evaluation, force)


def promote(
    ts: TrainingSet,
    evaluation: Evaluation,
    decision: PromotionDecision,
    *,
    dry_run: bool = False,
    actor: str = "schedule",
) -> PromotionOutcome:
    """Apply the decision in one transaction (``dry_run``: record only)."""
    from pipeline.model import retrain

    engine, uc, _ = context(ts["usecase_ref"])
    return retrain.promote(engine, uc, ts, evaluation, decision, dry_run=dry_run, actor=actor)


def report(ts: TrainingSet, challenger: Challenger, decision: PromotionDecision) -> str:
    """A readable account of the decision and its evidence; drops the run's staging tables."""
    from pipeline.model import retrain

    engine, uc, _ = context(ts["usecase_ref"])
    return retrain.report(engine, uc, ts, challenger, decision)


def run_retrain(
    cutoff: str,
    run_id: str,
    *,
    dry_run: bool = False,
    force: bool = False,
    actor: str = "cli",
    usecase: str | None = None,
) -> str:
    """Every step of a retraining DAG in this process (``batchscore retrain``)."""
    from pipeline.model.training_sets import TrainingSets

    ts = build_training_set(cutoff, run_id, usecase)
    try:
        validate_training_set(ts)
        challenger = train_challenger(ts, created_by=actor)
        evaluation = evaluate(ts, challenger)
        decision = decide(ts, evaluation, force)
        promote(ts, evaluation, decision, dry_run=dry_run, actor=actor)
        return report(ts, challenger, decision)
    finally:
        engine, uc, _ = context(ts["usecase_ref"])
        TrainingSets(engine, uc, run_id).drop()


def register_model(
    artifact: str,
    *,
    usecase: str | None = None,
    promote: bool = False,
    reason: str | None = None,
    allow_version_mismatch: bool = False,
    actor: str = "cli",
    run_id: str = "",
) -> Registered:
    """Register a model trained elsewhere (a joblib file; only files you trust: loading one runs its code), checked
    and measured on the use case's holdout, then judged by the promotion rule against the champion, or promoted by
    hand (``promote`` with a ``reason``) (``batchscore model register``, :mod:`pipeline.model.external`)."""
    from pathlib import Path

    from pipeline.model import external

    if not artifact.strip():
        raise ConfigError("model register needs --artifact PATH.joblib: the fitted model to register")
    engine, uc, _ = context(usecase)
    return external.register_external(
        engine,
        uc,
        Path(artifact),
        allow_version_mismatch=allow_version_mismatch,
        promote=promote,
        reason=reason,
        actor=actor,
        run_id=run_id or None,
    )


# --- <name>__rollback ------------------------------------------------------------------------------------------


def rollback(
    to_version: str | None,
    *,
    reason: str | None = None,
    actor: str = "rollback",
    run_id: str = "",
    rescore_dates: list[str] | None = None,
    usecase: str | None = None,
    force: bool = False,
) -> RollbackOutcome:
    """Restore a former champion (or, forced with a reason, ``to_version``), logged as a decision; then re-score
    ``rescore_dates``. A failed re-score says that the rollback itself happened."""
    from pipeline.model import retrain

    engine, uc, _ = context(usecase)
    days = [check_score_date(uc, d, "rescore_dates").isoformat() for d in (rescore_dates or [])]
    run_id = run_id or f"rollback__{uuid.uuid4().hex[:8]}"
    outcome = retrain.rollback(engine, uc, to_version, reason=reason, actor=actor, run_id=run_id, force=force)
    rescored: list[str] = []
    for day in days:
        try:
            rescored.append(run_night(day, f"{run_id}__{day}", uc.ref)["score_date"])
        except Exception as exc:
            raise RescoreFailed(
                f"{uc.name}: rolled back to {outcome['champion']} (was {outcome['previous']}); re-scoring {day} "
                f"failed: {type(exc).__name__}: {exc}; re-score it with `batchscore score --date {day}`"
                + (f" (re-scored: {', '.join(rescored)})" if rescored else "")
            ) from exc
    log.info("re-scored %s with %s", rescored or "nothing", outcome["champion"])
    return RollbackOutcome(champion=str(outcome["champion"]), previous=outcome["previous"], rescored=rescored)


class RescoreFailed(PipelineStateError):
    """The rollback was committed, a re-score after it failed: retrying the rollback cannot help."""
