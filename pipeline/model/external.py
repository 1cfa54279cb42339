"""Models trained elsewhere (a notebook): ``batchscore model register --artifact PATH.joblib``.

The file is loaded with joblib, which unpickles it: **loading a pickle runs code, so register only files you
trust** (your own, or your team's from a store you control), never one downloaded or sent by someone else.

Then it is checked as a nightly run would use it: an estimator of the use case's kind (``predict_proba`` for a
binary or multiclass use case, ``predict`` for a regression), fitted, taking the declared features (its
``feature_names_in_``, when it has them, must be exactly the declared features in the order scoring passes them),
predicting a sample of the use case's training window with output a night could publish, and pickled with this
environment's scikit-learn (a mismatch is refused unless allowed). It is measured on the use case's ``[training]``
holdout with the metrics training uses, copied into the artifact store, and registered as a candidate
(``created_by = 'register'``) with the categories and drift reference of the training window. Then the promotion
rule of weekly retraining judges it against the champion on the same holdout (the same steps,
:mod:`pipeline.model.retrain`), logged in ``promotion_decisions``; ``promote=True`` with a reason promotes it by
hand, logged as forced. With no champion yet it becomes the champion, as a first training does.
"""

from __future__ import annotations

import datetime as dt
import math
import time
import uuid
import warnings
from pathlib import Path
from typing import Any, TypedDict

import pandas as pd
from sqlalchemy.engine import Engine

from pipeline.config.usecase import UseCase
from pipeline.contracts import Challenger, PromotionDecision, TrainingSet
from pipeline.errors import ArtifactError
from pipeline.model import registry, retrain
from pipeline.model.artifacts import sha256_of, store_artifact, store_file
from pipeline.model.estimator import describe_features, estimator_problem
from pipeline.model.predict import model_classes, model_frame, predict_output
from pipeline.model.reference import build_reference
from pipeline.model.train import label_definition, labels_of, output_metrics
from pipeline.model.training_sets import label_cutoff, staged_training_sets

#: rows of the training window a registered model must predict before it is measured on the holdout
SAMPLE_ROWS = 2000
CREATED_BY = "register"
FIRST_CHAMPION = "no champion yet: the registered model is the first champion"


class RegisterError(ArtifactError):
    """A model file that cannot be registered; the message names the file and what is wrong."""


class Registered(TypedDict):
    """What a registration did (small, for XCom and the CLI)."""

    use_case: str
    version: str
    status: str  # "champion" (first champion, or promoted) or "rejected" (the rule kept the champion)
    promoted: bool
    champion: str | None
    previous: str | None
    forced: bool
    reason: str
    pickled_with: str
    sha256: str
    summary: str  # one line for the CLI and the task log


def _summary(uc: UseCase, path: Path, version: str, sha256: str, pickled_with: str, promoted: bool, why: str) -> str:
    verdict = "champion" if promoted else "rejected, the champion stays"
    return (
        f"{uc.name} {version} registered from {path} (sha256 {sha256[:12]}, scikit-learn {pickled_with}): "
        f"{verdict}: {why}"
    )


def load_model_file(path: Path, *, allow_version_mismatch: bool = False) -> tuple[Any, str]:
    """(model, the scikit-learn version it was pickled with) of a joblib file, refusing another version than this
    environment's unless ``allow_version_mismatch``. Only load files you trust: unpickling runs code."""
    import joblib
    import sklearn
    from sklearn.exceptions import InconsistentVersionWarning

    if not path.exists():
        raise RegisterError(f"{path}: no such file")
    if not path.is_file():
        raise RegisterError(f"{path}: is not a file")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", InconsistentVersionWarning)
        try:
            model = joblib.load(path)
        except ModuleNotFoundError as exc:
            raise RegisterError(
                f"{path}: cannot load it: it needs the module {exc.name!r}, which this environment does not have"
            ) from None
        except Exception as exc:
            raise RegisterError(f"{path}: cannot load it with joblib: {type(exc).__name__}: {exc}") from None
    # scikit-learn drops `_sklearn_version` from each estimator's state on load and warns when it differs
    pickled = sorted(
        {str(w.message.original_sklearn_version) for w in caught if isinstance(w.message, InconsistentVersionWarning)}
    )
    if not pickled:
        return model, sklearn.__version__
    version = ", ".join(pickled)
    if not allow_version_mismatch:
        raise RegisterError(
            f"{path}: pickled with scikit-learn {version}, this environment has {sklearn.__version__}: refit it "
            f"with {sklearn.__version__}, or allow the mismatch (--allow-version-mismatch) once you have checked it"
        )
    return model, version


def check_model(model: Any, uc: UseCase, path: Path) -> None:
    """Refuse a model that cannot serve the use case: the wrong kind, not fitted, other features (one line)."""
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    kind = uc.target.kind
    problem = estimator_problem(model, kind)
    if problem:
        raise RegisterError(f"{path}: {problem}")
    try:
        check_is_fitted(model)
    except NotFittedError:
        raise RegisterError(f"{path}: {type(model).__name__} is not fitted: fit it before saving it") from None
    except TypeError as exc:
        raise RegisterError(f"{path}: {exc}") from None
    if kind != "regression":
        classes = list(getattr(model, "classes_", []))
        if kind == "binary" and not (len(classes) == 2 and set(classes) == {False, True}):
            raise RegisterError(
                f"{path}: a binary use case needs a classifier of the labels False/True (or 0/1), this one "
                f"predicts the classes {[str(c) for c in classes]}"
            )
        if kind == "multiclass" and len(classes) < 2:
            raise RegisterError(f"{path}: a multiclass use case needs a classifier of two classes or more")
    declared = list(uc.feature_columns)
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        names = [str(n) for n in names]
        missing = [c for c in declared if c not in names]
        extra = [c for c in names if c not in declared]
        if missing or extra:
            parts = [f"lacks the declared features {', '.join(missing)}"] if missing else []
            parts += [f"needs columns the use case does not declare: {', '.join(extra)}"] if extra else []
            raise RegisterError(f"{path}: the model {' and '.join(parts)} ([features] of {uc.path})")
        if names != declared:
            raise RegisterError(
                f"{path}: the model takes its features in the order {', '.join(names)}; scoring passes them as "
                f"declared, categoricals first: {', '.join(declared)}"
            )
    elif getattr(model, "n_features_in_", len(declared)) != len(declared):
        raise RegisterError(
            f"{path}: the model takes {model.n_features_in_} columns, the use case declares {len(declared)} features"
        )


def check_predictions(model: Any, frame: pd.DataFrame, uc: UseCase, path: Path, what: str) -> Any:
    """The model's output on ``frame`` (:func:`pipeline.model.predict.predict_output`), or one line naming the
    file and what went wrong."""
    try:
        return predict_output(model, frame, uc)
    except Exception as exc:
        raise RegisterError(f"{path}: cannot predict {what}: {type(exc).__name__}: {exc}") from None


def _json_params(model: Any) -> dict[str, Any]:
    """The model's plain hyper-parameters (numbers, strings, booleans), for the registry's record."""
    try:
        params = model.get_params(deep=True)
    except Exception:  # a third-party estimator that cannot list them: the class is still recorded
        return {}
    return {
        k: v
        for k, v in sorted(params.items())
        if v is None or isinstance(v, bool | int | str) or (isinstance(v, float) and math.isfinite(v))
    }


def register_external(
    engine: Engine,
    uc: UseCase,
    path: Path,
    *,
    allow_version_mismatch: bool = False,
    promote: bool = False,
    reason: str | None = None,
    actor: str = "cli",
    run_id: str | None = None,
) -> Registered:
    """Check, measure and register a model file, then judge it by the promotion rule (see the module's
    docstring). ``promote``: make it champion whatever the rule says, with ``reason`` (required) logged."""
    if promote and not (reason or "").strip():
        raise RegisterError(f"{path}: promoting by hand needs a reason (it is recorded with the decision)")
    started = time.perf_counter()
    model, pickled_with = load_model_file(path, allow_version_mismatch=allow_version_mismatch)
    check_model(model, uc, path)
    run_id = run_id or f"register__{uuid.uuid4().hex[:8]}"
    w = uc.training
    known_at = label_cutoff(w.holdout_to)
    with staged_training_sets(engine, uc, run_id) as sets:
        frames = {}
        for kind, (date_from, date_to) in (
            ("training", (w.train_from, w.train_to)),
            ("holdout", (w.holdout_from, w.holdout_to)),
        ):
            count = sets.materialise(kind, date_from, date_to, known_at)
            sets.validate(kind)
            frames[kind] = sets.load(kind)
            if not count:
                raise RegisterError(f"{path}: the {kind} window of {uc.name} has no labelled rows")
        training, holdout = frames["training"], frames["holdout"]
        sample = training.sample(n=min(SAMPLE_ROWS, len(training)), random_state=uc.model.random_state)
        check_predictions(model, sample, uc, path, f"a sample of {len(sample)} rows of the training window")
        output = check_predictions(model, holdout, uc, path, "the holdout")
        metrics = output_metrics(uc, labels_of(uc, holdout, "holdout"), output)
        features = model_frame(training, uc)
        # a model pickled with another scikit-learn is stored re-pickled by this one (what the registry records);
        # otherwise the file itself, so the stored sha256 is the sha256 of the author's file
        stored_path, sha = (
            store_file(path, uc.name) if pickled_with == _sklearn_version() else store_artifact(model, uc.name)
        )
        mv = registry.register_version(
            engine,
            use_case=uc.name,
            artifact_path=stored_path,
            artifact_sha256=sha,
            created_by=CREATED_BY,
            windows={
                "train_from": w.train_from,
                "train_to": w.train_to,
                "holdout_from": w.holdout_from,
                "holdout_to": w.holdout_to,
            },
            train_rows=len(training),
            holdout_rows=len(holdout),
            features=describe_features(features, uc),
            hyperparameters={
                "estimator": f"{type(model).__module__}.{type(model).__qualname__}",
                "registered_from": {
                    "file": str(path.resolve()),
                    "sha256": sha256_of(path),
                    "pickled_with_sklearn": pickled_with,
                    "actor": actor,
                },
                "params": _json_params(model),
            },
            holdout_metrics={**metrics, "check_seconds": round(time.perf_counter() - started, 2)},
            threshold=uc.target.threshold,
            drift_reference=build_reference(features, output.score, uc, output.predicted_class),
            kind=uc.target.kind,
            classes=model_classes(model) if uc.target.kind == "multiclass" else None,
            make_champion_if_none=True,
            lineage={"labels_known_at": known_at, "label_definition": label_definition(uc)},
        )
        if mv.status == "champion":  # no champion before: it becomes one, as a first training does
            return Registered(
                use_case=uc.name,
                version=mv.version,
                pickled_with=pickled_with,
                sha256=sha,
                status="champion",
                promoted=True,
                champion=mv.version,
                previous=None,
                forced=False,
                reason=FIRST_CHAMPION,
                summary=_summary(uc, path, mv.version, sha, pickled_with, True, FIRST_CHAMPION),
            )
        rows = {"training": len(training), "holdout": len(holdout)}
        return _judge(engine, uc, mv, path, pickled_with, run_id, known_at, rows, promote, reason, actor)


def _judge(
    engine: Engine,
    uc: UseCase,
    mv: registry.ModelVersion,
    path: Path,
    pickled_with: str,
    run_id: str,
    known_at: dt.datetime,
    rows: dict[str, int],
    promote: bool,
    reason: str | None,
    actor: str,
) -> Registered:
    """The weekly retraining's evaluate, decide and promote steps on the staged holdout of ``run_id``."""
    w = uc.training
    ts = TrainingSet(
        use_case=uc.name,
        usecase_ref=uc.ref,
        run_id=run_id,
        cutoff=known_at.date().isoformat(),
        windows={
            "train_from": w.train_from.isoformat(),
            "train_to": w.train_to.isoformat(),
            "holdout_from": w.holdout_from.isoformat(),
            "holdout_to": w.holdout_to.isoformat(),
            "known_at": known_at.isoformat(),
        },
        rows=rows,
    )
    challenger = Challenger(version=mv.version, sha256=mv.artifact_sha256, fit_seconds=0.0)
    evaluation = retrain.evaluate(engine, uc, ts, challenger)
    decision: PromotionDecision = retrain.decide(engine, uc, ts, evaluation)
    if promote:
        said = ("promote: " if decision["promote"] else "keep the champion: ") + decision["reason"]
        decision = {
            **decision,
            "promote": True,
            "forced": True,
            "reason": f"promoted by hand: {reason.strip() if reason else ''} (the rule said: {said})",
        }
    outcome = retrain.promote(engine, uc, ts, evaluation, decision, actor=actor)
    return Registered(
        use_case=uc.name,
        version=mv.version,
        pickled_with=pickled_with,
        sha256=mv.artifact_sha256,
        status="champion" if outcome["promoted"] else "rejected",
        promoted=bool(outcome["promoted"]),
        champion=outcome["champion"],
        previous=outcome["previous"],
        forced=bool(decision.get("forced", False)),
        reason=decision["reason"],
        summary=_summary(
            uc, path, mv.version, mv.artifact_sha256, pickled_with, bool(outcome["promoted"]), decision["reason"]
        ),
    )


def _sklearn_version() -> str:
    import sklearn

    return str(sklearn.__version__)


__all__ = ["RegisterError", "Registered", "check_model", "load_model_file", "register_external"]
