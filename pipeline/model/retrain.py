"""Weekly retraining: a challenger trained as of a cut-off, judged against the champion on the same
out-of-time holdout, promoted only by the rule in :mod:`pipeline.model.promotion`.

Each function is one step of a retraining DAG, ``<name>__retrain`` (and of ``batchscore retrain``): the engine
and the use case in, a small typed dict out; the training data stays in the run's staging tables
(:class:`~pipeline.model.training_sets.TrainingSets`) until a step needs it in memory.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pipeline.config.usecase import UseCase
from pipeline.contracts import Challenger, Evaluation, PromotionDecision, PromotionOutcome, TrainingSet
from pipeline.db.sql import load_sql
from pipeline.model import registry
from pipeline.model.artifacts import ModelError, load_artifact
from pipeline.model.predict import output_matrix, predict_output
from pipeline.model.promotion import should_promote
from pipeline.model.train import labels_of, store_and_register, train_model
from pipeline.model.training_sets import TrainingSets

log = logging.getLogger(__name__)


def retrain_windows(uc: UseCase, cutoff: dt.date) -> dict[str, Any]:
    """Training and holdout windows as of ``cutoff`` (pure): the newest labelled day is
    ``cutoff - label_delay_days``; the holdout is the last ``holdout_weeks`` before it (inclusive)."""
    r = uc.retraining
    holdout_to = cutoff - dt.timedelta(days=r.label_delay_days)
    holdout_from = holdout_to - dt.timedelta(weeks=r.holdout_weeks) + dt.timedelta(days=1)
    train_to = holdout_from - dt.timedelta(days=1)
    train_from = train_to - dt.timedelta(weeks=r.train_weeks) + dt.timedelta(days=1)
    return {
        "train_from": train_from,
        "train_to": train_to,
        "holdout_from": holdout_from,
        "holdout_to": holdout_to,
        "known_at": dt.datetime.combine(cutoff, dt.time(0), tzinfo=dt.UTC),
    }


def build_training_set(engine: Engine, uc: UseCase, cutoff: dt.date, run_id: str) -> TrainingSet:
    """Step 1: materialise the point-in-time training and holdout sets as of ``cutoff`` in staging."""
    w = retrain_windows(uc, cutoff)
    sets = TrainingSets(engine, uc, run_id)
    rows = {
        kind: sets.materialise(kind, w[f"{prefix}_from"], w[f"{prefix}_to"], w["known_at"])
        for kind, prefix in (("training", "train"), ("holdout", "holdout"))
    }
    log.info(
        "training set as of %s: %d rows (%s..%s), holdout %d rows (%s..%s)",
        cutoff,
        rows["training"],
        w["train_from"],
        w["train_to"],
        rows["holdout"],
        w["holdout_from"],
        w["holdout_to"],
    )
    return TrainingSet(
        use_case=uc.name,
        usecase_ref=uc.ref,
        run_id=run_id,
        cutoff=cutoff.isoformat(),
        windows={k: v.isoformat() for k, v in w.items()},
        rows=rows,
    )


def validate_training_set(engine: Engine, uc: UseCase, ts: TrainingSet) -> dict[str, str]:
    """Step 2: the training suite on both sets, inside Postgres; raises ValidationFailed before any fit."""
    sets = TrainingSets(engine, uc, ts["run_id"])
    return {kind: sets.validate(kind) for kind in ("training", "holdout")}


def train_challenger(engine: Engine, uc: UseCase, ts: TrainingSet, created_by: str = "schedule") -> Challenger:
    """Step 3: fit the challenger on the training set, store it and register it as a candidate."""
    sets = TrainingSets(engine, uc, ts["run_id"])
    w = {k: dt.date.fromisoformat(v) for k, v in ts["windows"].items() if k != "known_at"}
    result = train_model(sets.load("training"), sets.load("holdout"), uc)
    mv = store_and_register(
        engine,
        uc,
        result,
        f"{created_by}:{ts['run_id']}",
        windows=w,
        make_champion_if_none=False,
        lineage={
            "cutoff_date": dt.date.fromisoformat(ts["cutoff"]),
            "labels_known_at": dt.datetime.fromisoformat(ts["windows"]["known_at"]),
        },
    )
    key = uc.promotion.primary_metric(uc.target.kind).removeprefix("neg_")
    value = mv.holdout_metrics.get(key)
    log.info("challenger %s %s: holdout %s %s", uc.name, mv.version, key, "n/a" if value is None else f"{value:.4f}")
    return Challenger(version=mv.version, sha256=mv.artifact_sha256, fit_seconds=round(result.seconds, 2))


def evaluate(engine: Engine, uc: UseCase, ts: TrainingSet, challenger: Challenger) -> Evaluation:
    """Step 4: score champion and challenger on the same holdout rows; keep their outputs in staging (one array
    per row and model: P(positive), the class probabilities in the order of ``classes``, or the predicted value)."""
    sets = TrainingSets(engine, uc, ts["run_id"])
    holdout = sets.load("holdout")
    labels = labels_of(uc, holdout, "holdout")
    new = registry.get_version(engine, uc.name, challenger["version"])
    new_output = predict_output(load_artifact(new), holdout, uc, new.threshold)
    try:
        champ: registry.ModelVersion | None = registry.get_champion(engine, uc.name)
    except ModelError:  # no champion yet; a champion whose artifact is broken must fail loudly, not count as none
        champ = None
    old_output = predict_output(load_artifact(champ), holdout, uc, champ.threshold) if champ is not None else None
    classes = None
    if uc.target.kind == "multiclass":
        known = [*(new_output.classes or ()), *((old_output.classes or ()) if old_output else ())]
        classes = tuple(dict.fromkeys([*known, *sorted(set(map(str, labels)) - set(known))]))
    challenger_out = output_matrix(new_output, classes).reshape(len(holdout), -1)
    champion_out = output_matrix(old_output, classes).reshape(len(holdout), -1) if old_output else None
    quoted = sets.quoted("scores")
    with engine.begin() as conn:
        conn.execute(sa.text(f"drop table if exists {quoted}"))
        conn.execute(sa.text(load_sql("model/holdout_outputs.sql", outputs=quoted)))
        conn.execute(
            sa.text(load_sql("model/insert_holdout_output.sql", outputs=quoted)),
            [
                {
                    "entity_id": entity,
                    "score_date": day,
                    "label": str(label),
                    "challenger_output": challenger_out[i].tolist(),
                    "champion_output": champion_out[i].tolist() if champion_out is not None else None,
                }
                for i, (entity, day, label) in enumerate(
                    zip(holdout["entity_id"], holdout["score_date"], labels, strict=True)
                )
            ],
        )
    return Evaluation(
        champion_version=champ.version if champ is not None else None,
        challenger_version=new.version,
        holdout_rows=len(holdout),
        classes=list(classes) if classes is not None else None,
    )


def _stored_labels(uc: UseCase, labels: list[str]) -> np.ndarray:
    """The holdout labels as evaluate stored them (text) back in the kind's type."""
    if uc.target.kind == "binary":
        return np.array([v == "True" for v in labels], dtype=bool)
    if uc.target.kind == "regression":
        return np.array(labels, dtype="float64")
    return np.array(labels, dtype=object)


def decide(
    engine: Engine, uc: UseCase, ts: TrainingSet, evaluation: Evaluation, force: bool = False
) -> PromotionDecision:
    """Step 5: apply the promotion rule to the evaluation (pure decision on the stored outputs)."""
    outputs = TrainingSets(engine, uc, ts["run_id"]).quoted("scores")
    with engine.connect() as conn:
        rows = conn.execute(sa.text(load_sql("model/holdout_outputs_in_order.sql", outputs=outputs))).all()
    y = _stored_labels(uc, [r.label for r in rows])
    classes = tuple(evaluation.get("classes") or ()) or None

    def matrix(column: str) -> np.ndarray:
        values = np.array([getattr(r, column) for r in rows], dtype=float)
        return values if uc.target.kind == "multiclass" else values[:, 0]

    challenger = matrix("challenger_output")
    champion = None if evaluation["champion_version"] is None else matrix("champion_output")
    verdict = should_promote(y, challenger, champion, uc.target.threshold, uc.promotion, uc.target.kind, classes)
    decision = PromotionDecision(
        promote=verdict.promote,
        reason=verdict.reason,
        challenger_metrics=verdict.challenger_metrics,
        champion_metrics=verdict.champion_metrics,
        improvement=verdict.improvement,
        bootstrap=verdict.bootstrap,
        guardrails=verdict.guardrails,
        forced=False,
        rule={**uc.promotion.model_dump(mode="json"), "metric": uc.promotion.primary_metric(uc.target.kind)},
    )
    if force and not decision["promote"]:
        guard = decision["guardrails"]
        if guard.get("flagged_share_ok", True) and guard.get("brier_ok", True):
            said = decision["reason"]
            decision["promote"], decision["forced"] = True, True
            decision["reason"] = f"forced by the operator (the rule said: {said})"
    log.info("decision: %s: %s", "promote" if decision["promote"] else "keep the champion", decision["reason"])
    return decision


def promote(
    engine: Engine,
    uc: UseCase,
    ts: TrainingSet,
    evaluation: Evaluation,
    decision: PromotionDecision,
    *,
    dry_run: bool = False,
    actor: str = "schedule",
) -> PromotionOutcome:
    """Step 6: apply the decision: switch the champion (one transaction, under the lock), or mark the challenger
    rejected; ``dry_run`` only records. Every outcome writes a ``promotion_decisions`` row."""
    challenger = evaluation["challenger_version"]
    row = {
        "use_case": uc.name,
        "actor": actor,
        "run_id": ts["run_id"],
        "cutoff_date": ts["cutoff"],
        "challenger_version": challenger,
        "dry_run": dry_run,
        "forced": decision.get("forced", False),
        "rule": decision["rule"],
        "champion_metrics": decision["champion_metrics"],
        "challenger_metrics": decision["challenger_metrics"],
        "improvement": decision["improvement"],
        "bootstrap": decision["bootstrap"],
        "guardrails": decision["guardrails"],
        "reason": ("dry run, nothing changed: " if dry_run else "") + decision["reason"],
    }
    if decision["promote"] and not dry_run:
        previous = registry.promote_version(engine, uc.name, challenger, row)
        log.info("promoted %s %s (previous champion: %s)", uc.name, challenger, previous)
        return PromotionOutcome(promoted=True, champion=challenger, previous=previous)
    with engine.begin() as conn:
        registry.lock_registry(conn, uc.name)
        champion = registry.current_champion(conn, uc.name)
        if not dry_run:
            registry.set_status(conn, uc.name, challenger, "rejected")
        registry.record_decision(conn, {**row, "champion_version": champion, "promoted": False})
    return PromotionOutcome(promoted=False, champion=champion, previous=champion)


def report(engine: Engine, uc: UseCase, ts: TrainingSet, challenger: Challenger, decision: PromotionDecision) -> str:
    """Step 7: a readable account of the decision and its evidence, from the promotion log (logged, and
    returned for XCom and the CLI); drops the run's staging tables."""
    TrainingSets(engine, uc, ts["run_id"]).drop()
    logged = registry.last_decision(engine, ts["run_id"], uc.name)
    w, new, old = ts["windows"], decision["challenger_metrics"], decision.get("champion_metrics") or {}

    def figure(m: dict[str, Any], key: str, spec: str) -> str:
        value = m.get(key)
        return "n/a" if value is None else format(value, spec)

    def metrics(m: dict[str, Any]) -> str:
        if not m:
            return "-"
        if uc.target.kind == "regression":
            return (
                f"MAE {figure(m, 'mae', '.3f')}  RMSE {figure(m, 'rmse', '.3f')}  R2 {figure(m, 'r2', '.3f')}  "
                f"bias {figure(m, 'bias', '+.3f')}"
            )
        if uc.target.kind == "multiclass":
            return (
                f"log loss {figure(m, 'log_loss', '.4f')}  macro F1 {figure(m, 'macro_f1', '.4f')}  "
                f"balanced accuracy {figure(m, 'balanced_accuracy', '.4f')}"
            )
        return (
            f"AP {figure(m, 'average_precision', '.4f')}  AUC {figure(m, 'roc_auc', '.4f')}  "
            f"Brier {figure(m, 'brier', '.4f')}  flagged {figure(m, 'flagged_share', '.1%')}"
        )

    promoted = bool(logged and logged["promoted"])
    boot = decision.get("bootstrap") or {}
    lines = [
        f"retrain {uc.name} as of {ts['cutoff']}: training {w['train_from']}..{w['train_to']} "
        f"({ts['rows']['training']:,} rows), holdout {w['holdout_from']}..{w['holdout_to']} "
        f"({ts['rows']['holdout']:,} rows), labels known at {w['known_at']}",
        f"  champion   {str(logged['champion_version'] if logged else '-'):<6} {metrics(old)}",
        f"  challenger {challenger['version']:<6} {metrics(new)}",
    ]
    if boot.get("samples"):
        lines.append(
            f"  bootstrap: challenger wins {boot['win_share']:.0%} of {boot['samples']} resamples; gain 90% "
            f"interval [{boot['gain_p05']:+.4f}, {boot['gain_p95']:+.4f}]"
        )
    verdict = (
        "PROMOTED"
        if promoted
        else ("dry run, nothing changed" if logged and logged["dry_run"] else "kept the champion")
    )
    lines.append(f"  decision: {verdict}: {decision['reason']}")
    text = "\n".join(lines)
    log.info("%s", text)
    return text


def rollback(
    engine: Engine,
    uc: UseCase,
    to_version: str | None,
    *,
    reason: str | None,
    actor: str,
    run_id: str,
    force: bool = False,
) -> PromotionOutcome:
    """Restore a former champion (or ``to_version``), logged as a decision (re-scoring is the caller's). ``force``
    restores a version that never was champion; it needs a reason and is logged as forced."""
    if force and not (reason or "").strip():
        raise ModelError(f"{uc.name}: a forced rollback needs a reason (it is recorded with the decision)")
    target = registry.rollback_target(engine, uc.name, to_version, force=force)
    why = reason or "rollback requested by an operator"
    decision = {"actor": actor, "run_id": run_id, "reason": why, "forced": force}
    previous = registry.promote_version(engine, uc.name, target, decision)
    log.info("rolled %s back from %s to %s", uc.name, previous, target)
    return PromotionOutcome(promoted=True, champion=target, previous=previous)
