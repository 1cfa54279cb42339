"""Weekly retraining: a challenger trained as of a cut-off, judged against the champion on the same
out-of-time holdout, promoted only by the rule in :mod:`pipeline.promotion`.

Each function is one step of ``retrain_weekly`` (and of ``batchscore retrain``): identifiers in, a small
JSON-able dict out; the training data stays in Postgres staging tables until a step needs it in memory.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict
from typing import Any

import sqlalchemy as sa

from pipeline.db import get_engine
from pipeline.staging import training_tables
from pipeline.usecase import UseCase, load_usecase

log = logging.getLogger(__name__)

def retrain_windows(uc: UseCase, cutoff: dt.date) -> dict[str, Any]:
    """Training and holdout windows as of ``cutoff`` (pure): the newest labelled day is
    ``cutoff - label_delay_days``; the holdout is the last ``holdout_weeks`` before it (inclusive)."""
    r = uc.retraining
    holdout_to = cutoff - dt.timedelta(days=r.label_delay_days)
    holdout_from = holdout_to - dt.timedelta(weeks=r.holdout_weeks) + dt.timedelta(days=1)
    train_to = holdout_from - dt.timedelta(days=1)
    train_from = train_to - dt.timedelta(weeks=r.train_weeks) + dt.timedelta(days=1)
    return {"train_from": train_from, "train_to": train_to, "holdout_from": holdout_from, "holdout_to": holdout_to,
            "known_at": dt.datetime.combine(cutoff, dt.time(0), tzinfo=dt.UTC)}


def build_training_set(cutoff: str, run_id: str, usecase: str | None = None) -> dict[str, Any]:
    """Step 1: materialise the point-in-time training and holdout sets as of ``cutoff`` in staging."""
    from pipeline.stages import parse_date
    from pipeline.train import materialise_training_table

    engine, uc = get_engine(), load_usecase(usecase)
    day = parse_date(cutoff, what="cutoff_date")
    w = retrain_windows(uc, day)
    tables = training_tables(uc.name, run_id)
    rows = {
        kind: materialise_training_table(engine, uc, tables[kind][0], w[f"{prefix}_from"], w[f"{prefix}_to"],
                                         w["known_at"])
        for kind, prefix in (("training", "train"), ("holdout", "holdout"))
    }
    log.info("training set as of %s: %d rows (%s..%s), holdout %d rows (%s..%s)", day, rows["training"],
             w["train_from"], w["train_to"], rows["holdout"], w["holdout_from"], w["holdout_to"])
    return {"use_case": uc.name, "usecase_ref": uc.ref, "run_id": run_id, "cutoff": day.isoformat(),
            "windows": {k: v.isoformat() for k, v in w.items()}, "rows": rows}


def validate_training_set(ts: dict[str, Any]) -> dict[str, Any]:
    """Step 2: the training suite on both sets, inside Postgres; raises ValidationFailed before any fit."""
    from pipeline.validate import validate_training_table

    engine, uc = get_engine(), load_usecase(ts["usecase_ref"])
    tables = training_tables(uc.name, ts["run_id"])
    return {kind: validate_training_table(engine, uc, tables[kind][1], dataset=kind, run_id=ts["run_id"])["status"]
            for kind in ("training", "holdout")}


def train_challenger(ts: dict[str, Any], created_by: str = "schedule") -> dict[str, Any]:
    """Step 3: fit the challenger on the training set, store it and register it as a candidate."""
    from pipeline.train import _store_and_register, load_staged, train_model

    engine, uc = get_engine(), load_usecase(ts["usecase_ref"])
    tables = training_tables(uc.name, ts["run_id"])
    w = {k: dt.date.fromisoformat(v) for k, v in ts["windows"].items() if k != "known_at"}
    train, holdout = load_staged(engine, tables["training"][0]), load_staged(engine, tables["holdout"][0])
    result = train_model(train, holdout, uc)
    mv = _store_and_register(engine, uc, result, f"{created_by}:{ts['run_id']}", windows=w,
                             make_champion_if_none=False,
                             lineage={"cutoff_date": dt.date.fromisoformat(ts["cutoff"]),
                                      "labels_known_at": dt.datetime.fromisoformat(ts["windows"]["known_at"])})
    log.info("challenger %s %s: holdout average precision %.4f", uc.name, mv.version,
             mv.holdout_metrics.get("average_precision", float("nan")))
    return {"version": mv.version, "sha256": mv.artifact_sha256, "fit_seconds": round(result.seconds, 2)}


def evaluate(ts: dict[str, Any], challenger: dict[str, Any]) -> dict[str, Any]:
    """Step 4: score champion and challenger on the same holdout rows; keep the scores in staging."""
    import numpy as np

    from pipeline.features import model_frame
    from pipeline.registry import ModelError, get_champion, get_version, load_artifact
    from pipeline.train import load_staged

    engine, uc = get_engine(), load_usecase(ts["usecase_ref"])
    tables = training_tables(uc.name, ts["run_id"])
    holdout = load_staged(engine, tables["holdout"][0])
    inputs = model_frame(holdout, uc)
    new = get_version(engine, uc.name, challenger["version"])
    scores = {"challenger_score": load_artifact(new).predict_proba(inputs)[:, 1]}
    try:
        champ = get_champion(engine, uc.name)
        scores["champion_score"] = load_artifact(champ).predict_proba(inputs)[:, 1]
        champion_version: str | None = champ.version
    except ModelError:
        champion_version = None
        scores["champion_score"] = np.full(len(holdout), np.nan)
    frame = holdout[["entity_id", "score_date", "label"]].assign(**scores)
    quoted = tables["scores"][0]
    with engine.begin() as conn:
        conn.execute(sa.text(f"drop table if exists {quoted}"))
        conn.execute(sa.text(f"create unlogged table {quoted} (entity_id text, score_date date, label boolean, "
                             "challenger_score double precision, champion_score double precision)"))
        conn.execute(sa.text(f"insert into {quoted} values (:entity_id, :score_date, :label, "  # noqa: S608
                             ":challenger_score, :champion_score)"),
                     [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()}
                      for r in frame.to_dict("records")])
    return {"champion_version": champion_version, "challenger_version": new.version, "holdout_rows": len(frame)}


def decide(ts: dict[str, Any], evaluation: dict[str, Any], force: bool = False) -> dict[str, Any]:
    """Step 5: apply the promotion rule to the evaluation (pure decision on the stored scores)."""
    import numpy as np

    from pipeline.promotion import should_promote

    engine, uc = get_engine(), load_usecase(ts["usecase_ref"])
    scores_table = training_tables(uc.name, ts["run_id"])["scores"][0]
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            f"select label, challenger_score, champion_score from {scores_table} "  # noqa: S608
            "order by score_date, entity_id")).all()
    y = np.array([r.label for r in rows], dtype=bool)
    challenger = np.array([r.challenger_score for r in rows], dtype=float)
    champion = None if evaluation["champion_version"] is None else np.array([r.champion_score for r in rows], float)
    decision = should_promote(y, challenger, champion, uc.threshold, uc.retraining.rule).as_dict()
    decision["forced"] = False
    if force and not decision["promote"]:
        guard = decision["guardrails"]
        if guard.get("flagged_share_ok", False) and guard.get("brier_ok", True):
            decision.update(promote=True, forced=True,
                            reason=f"forced by the operator (the rule said: {decision['reason']})")
    decision["rule"] = asdict(uc.retraining.rule)
    log.info("decision: %s: %s", "promote" if decision["promote"] else "keep the champion", decision["reason"])
    return decision


def promote(ts: dict[str, Any], evaluation: dict[str, Any], decision: dict[str, Any], *, dry_run: bool = False,
            actor: str = "schedule") -> dict[str, Any]:
    """Step 6: apply the decision: switch the champion (one transaction, under the lock), or mark the challenger
    rejected; ``dry_run`` only records. Every outcome writes a ``promotion_decisions`` row."""
    from pipeline.registry import current_champion, lock_registry, promote_version, record_decision, set_status

    engine, uc = get_engine(), load_usecase(ts["usecase_ref"])
    challenger = evaluation["challenger_version"]
    row = {
        "use_case": uc.name, "actor": actor, "run_id": ts["run_id"], "cutoff_date": ts["cutoff"],
        "challenger_version": challenger, "dry_run": dry_run, "forced": decision.get("forced", False),
        "rule": decision["rule"], "champion_metrics": decision["champion_metrics"],
        "challenger_metrics": decision["challenger_metrics"], "improvement": decision["improvement"],
        "bootstrap": decision["bootstrap"], "guardrails": decision["guardrails"],
        "reason": ("dry run, nothing changed: " if dry_run else "") + decision["reason"],
    }
    if decision["promote"] and not dry_run:
        previous = promote_version(engine, uc.name, challenger, row)
        log.info("promoted %s %s (previous champion: %s)", uc.name, challenger, previous)
        return {"promoted": True, "champion": challenger, "previous": previous}
    with engine.begin() as conn:
        lock_registry(conn, uc.name)
        champion = current_champion(conn, uc.name)
        if not dry_run:
            set_status(conn, uc.name, challenger, "rejected")
        record_decision(conn, {**row, "champion_version": champion, "promoted": False})
    return {"promoted": False, "champion": champion, "previous": champion}


def report(ts: dict[str, Any], challenger: dict[str, Any], decision: dict[str, Any]) -> str:
    """Step 7: a readable account of the decision and its evidence, from the promotion log (logged, and
    returned for XCom and the CLI); drops the run's staging tables."""
    engine, uc = get_engine(), load_usecase(ts["usecase_ref"])
    _drop(engine, uc, ts["run_id"])
    with engine.connect() as conn:
        logged = conn.execute(sa.text(
            "select promoted, dry_run, champion_version from batchscore.promotion_decisions "
            "where run_id = :r order by id desc limit 1"), {"r": ts["run_id"]}).one_or_none()
    w, new, old = ts["windows"], decision["challenger_metrics"], decision.get("champion_metrics") or {}

    def metrics(m: dict[str, Any]) -> str:
        if not m:
            return "-"
        return (f"AP {m.get('average_precision', float('nan')):.4f}  AUC {m.get('roc_auc', float('nan')):.4f}  "
                f"Brier {m.get('brier', float('nan')):.4f}  flagged {m.get('flagged_share', float('nan')):.1%}")

    promoted = bool(logged and logged.promoted)
    boot = decision.get("bootstrap") or {}
    lines = [
        f"retrain {uc.name} as of {ts['cutoff']}: training {w['train_from']}..{w['train_to']} "
        f"({ts['rows']['training']:,} rows), holdout {w['holdout_from']}..{w['holdout_to']} "
        f"({ts['rows']['holdout']:,} rows), labels known at {w['known_at']}",
        f"  champion   {str(logged.champion_version if logged else '-'):<6} {metrics(old)}",
        f"  challenger {challenger['version']:<6} {metrics(new)}",
    ]
    if boot.get("samples"):
        lines.append(f"  bootstrap: challenger wins {boot['win_share']:.0%} of {boot['samples']} resamples; gain 90% "
                     f"interval [{boot['gain_p05']:+.4f}, {boot['gain_p95']:+.4f}]")
    verdict = "PROMOTED" if promoted else ("dry run, nothing changed" if logged and logged.dry_run
                                           else "kept the champion")
    lines.append(f"  decision: {verdict}: {decision['reason']}")
    text = "\n".join(lines)
    log.info("%s", text)
    return text


def _drop(engine: Any, uc: UseCase, run_id: str) -> None:
    with engine.begin() as conn:
        tables = ", ".join(quoted for quoted, _ in training_tables(uc.name, run_id).values())
        conn.execute(sa.text(f"drop table if exists {tables}"))


def run_retrain(cutoff: str, run_id: str, *, dry_run: bool = False, force: bool = False, actor: str = "cli",
                usecase: str | None = None) -> str:
    """All steps in this process (``batchscore retrain``): retrain_weekly without Airflow."""
    ts = build_training_set(cutoff, run_id, usecase)
    try:
        validate_training_set(ts)
        challenger = train_challenger(ts, created_by=actor)
        evaluation = evaluate(ts, challenger)
        decision = decide(ts, evaluation, force)
        promote(ts, evaluation, decision, dry_run=dry_run, actor=actor)
        return report(ts, challenger, decision)
    finally:
        _drop(get_engine(), load_usecase(ts["usecase_ref"]), run_id)


def rollback(to_version: str | None, *, reason: str | None = None, actor: str = "rollback", run_id: str = "",
             rescore_dates: list[str] | None = None, usecase: str | None = None) -> dict[str, Any]:
    """Restore a former champion (or ``to_version``), logged as a decision; optionally re-score dates with it."""
    import uuid

    from pipeline import stages
    from pipeline.registry import promote_version, rollback_target

    engine, uc = get_engine(), load_usecase(usecase)
    run_id = run_id or f"rollback__{uuid.uuid4().hex[:8]}"
    target = rollback_target(engine, uc.name, to_version)
    why = reason or "rollback requested by an operator"
    previous = promote_version(engine, uc.name, target, {"actor": actor, "run_id": run_id, "reason": why})
    rescored = [stages.run_all(d, f"{run_id}__{d}", uc.ref)["score_date"] for d in (rescore_dates or [])]
    log.info("rolled %s back from %s to %s; re-scored %s", uc.name, previous, target, rescored or "nothing")
    return {"champion": target, "previous": previous, "rescored": rescored}
