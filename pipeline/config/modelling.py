"""The modelling tables of a use-case file: ``[target]`` (what is predicted, of which kind), ``[model]`` (which
scikit-learn estimator, or a use case's own pipeline factory) and ``[promotion]`` (the rule, per kind).

The checks that need the kind and the estimator together run in :func:`check_modelling`, once the whole file is
read; :func:`build_estimator` constructs the declared estimator, so a hyper-parameter typo is refused at load.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from pipeline.config.types import DeclarationProblem, Int, Number, Table, Text, at_least, within

Kind = Literal["binary", "multiclass", "regression"]
#: the metrics a promotion may compare, per kind (all oriented so that higher is better)
PROMOTION_METRICS: dict[str, tuple[str, ...]] = {
    "binary": ("average_precision", "roc_auc", "neg_brier"),
    "multiclass": ("neg_log_loss", "macro_f1", "balanced_accuracy"),
    "regression": ("neg_mae", "neg_rmse", "r2"),
}
#: the estimator a kind gets when ``[model]`` names none
DEFAULT_ESTIMATORS = {
    "binary": "sklearn.ensemble.HistGradientBoostingClassifier",
    "multiclass": "sklearn.ensemble.HistGradientBoostingClassifier",
    "regression": "sklearn.ensemble.HistGradientBoostingRegressor",
}
#: hyper-parameters batchscore sets itself on histogram boosting (from [features], and for reproducible fits)
FIXED_HYPERPARAMETERS = frozenset({"categorical_features", "early_stopping"})


class TargetSpec(Table):
    """``[target]``: what is predicted, of which kind, and (binary) when a prediction flags an entity."""

    name: Text = Field(description="the target's name (documentation and lineage; the label query defines it)")
    kind: Kind = Field(
        "binary",
        description='"binary" (label boolean or 0/1; a probability and a flag), "multiclass" (label text or '
        'integer classes; the predicted class and each class\'s probability) or "regression" (numeric label; '
        "the predicted value)",
    )
    threshold: Number | None = Field(
        None, description="binary only, required: flag an entity when its score is at least this; in (0, 1)"
    )
    interval: Annotated[Number, within(0.5, 0.999)] | None = Field(
        None,
        description="regression only: publish a prediction interval of this coverage (split conformal on the "
        "training window's newest part), as `prediction_lower` and `prediction_upper`",
    )


def _import_path(value: str) -> str:
    module, _, attr = value.replace(":", ".").rpartition(".")
    if not module or not attr:
        raise ValueError(f"must be an import path such as 'sklearn.linear_model.LogisticRegression', got {value!r}")
    return value


class ModelSpec(Table):
    """``[model]``: the estimator (any scikit-learn-compatible class) and its hyper-parameters, or a factory."""

    estimator: Annotated[Text, AfterValidator(_import_path)] | None = Field(
        None,
        description="import path of a scikit-learn-compatible estimator class (default: HistGradientBoosting"
        "Classifier, or ...Regressor for regression); batchscore puts the preprocessing that fits it in front",
    )
    preprocessing: Literal["auto", "native", "one_hot"] = Field(
        "auto",
        description='"native": categoricals as ordinal codes the estimator splits on (histogram boosting); '
        '"one_hot": imputation + one-hot categoricals + scaled numerics (linear models and most others); '
        '"auto": native for histogram boosting, one_hot otherwise',
    )
    pipeline: Annotated[Text, AfterValidator(_import_path)] | None = Field(
        None,
        description='a use case\'s own factory, "package.module:function", called with the use case and '
        "returning an unfitted scikit-learn estimator or Pipeline that takes the feature columns as a DataFrame "
        "(instead of `estimator`)",
    )
    random_state: Int = Field(0, description="seed of every random choice in training (given to the estimator)")
    hyperparameters: dict[Text, Any] = Field(
        {}, description="keyword arguments of the estimator (checked by constructing it at load)"
    )


def _bounds(value: tuple[float, float]) -> tuple[float, float]:
    if not 0 <= value[0] < value[1] <= 1:
        raise ValueError(f"must be [low, high] within [0, 1], got {list(value)}")
    return value


class PromotionRule(Table):
    """``[promotion]``: when a challenger replaces the champion (both scored on the same holdout)."""

    metric: Text | None = Field(
        None,
        description="the primary metric, higher is better (binary: average_precision, roc_auc, neg_brier; "
        "multiclass: neg_log_loss, macro_f1, balanced_accuracy; regression: neg_mae, neg_rmse, r2). "
        "Default: the first of the kind",
    )
    min_improvement: Number = Field(0.005, description="absolute gain of the metric required")
    bootstrap_samples: Annotated[Int, at_least(50)] = Field(300, description="paired bootstrap resamples")
    min_win_share: Annotated[Number, within(0.5, 1.0)] = Field(
        0.95, description="share of resamples in which the challenger must win"
    )
    brier_tolerance: Number = Field(
        0.002, description="binary: the challenger's Brier score may exceed the champion's by at most this"
    )
    flagged_share_bounds: Annotated[tuple[Number, Number], AfterValidator(_bounds)] = Field(
        (0.001, 0.5), description="binary: the share of the holdout the challenger flags must lie within [low, high]"
    )
    seed: Int = Field(13, description="seed of the bootstrap")

    def primary_metric(self, kind: str) -> str:
        """The metric the rule compares for a task kind: ``metric``, else the kind's first."""
        return self.metric or PROMOTION_METRICS[kind][0]


def estimator_path(model: ModelSpec, kind: str) -> str:
    """The import path of the estimator class a use case trains (declared, or the kind's default)."""
    return model.estimator or DEFAULT_ESTIMATORS[kind]


def import_object(path: str, key: str) -> Any:
    """The object at ``package.module.Name`` or ``package.module:name``; :class:`DeclarationProblem` otherwise."""
    module_name, _, attr = path.replace(":", ".").rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise DeclarationProblem(key, f"cannot import module {module_name!r}: {exc}") from None
    if not hasattr(module, attr):
        public = [n for n in dir(module) if not n.startswith("_")]
        close = difflib.get_close_matches(attr, public, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise DeclarationProblem(key, f"module {module_name!r} has no {attr!r}{hint}")
    return getattr(module, attr)


def is_histogram_boosting(cls: type) -> bool:
    """Histogram gradient boosting handles categoricals and missing values natively."""
    return cls.__name__.startswith("HistGradientBoosting")


def build_estimator(model: ModelSpec, kind: str) -> Any:
    """The declared estimator, constructed with its hyper-parameters (and ``random_state`` when it takes one).

    Every problem is a :class:`DeclarationProblem` naming the key: an unknown class, a class that is not an
    estimator of the kind, an unknown or invalid hyper-parameter (scikit-learn's own parameter constraints).
    """
    key = "model.estimator"
    cls: Any = import_object(estimator_path(model, kind), key)
    if not inspect.isclass(cls) or not hasattr(cls, "fit") or not hasattr(cls, "get_params"):
        raise DeclarationProblem(key, f"{estimator_path(model, kind)!r} is not a scikit-learn estimator class")
    needed = "predict_proba" if kind != "regression" else "predict"
    if not hasattr(cls, needed):
        raise DeclarationProblem(key, f"{cls.__name__} has no {needed}(), which a {kind} use case needs")
    blank: Any = cls()
    known = set(blank.get_params())
    params = dict(model.hyperparameters)
    for name in params:
        if is_histogram_boosting(cls) and name in FIXED_HYPERPARAMETERS:
            raise DeclarationProblem(
                f"model.hyperparameters.{name}", "is set by batchscore from [features] and cannot be declared"
            )
        if name == "random_state":
            raise DeclarationProblem("model.hyperparameters.random_state", "is declared as [model] random_state")
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise DeclarationProblem(
                f"model.hyperparameters.{name}", f"is not a hyper-parameter of {cls.__name__}{hint}"
            )
    if "random_state" in known:
        params["random_state"] = model.random_state
    if is_histogram_boosting(cls):
        params["early_stopping"] = False
    estimator = cls(**params)
    validate = getattr(estimator, "_validate_params", None)
    if callable(validate):
        try:
            validate()
        except (ValueError, TypeError) as exc:
            named = next((p for p in model.hyperparameters if f"'{p}'" in str(exc)), None)
            where = f"model.hyperparameters.{named}" if named else "model.hyperparameters"
            raise DeclarationProblem(where, f"is refused by {cls.__name__}: {exc}") from None
    return estimator


def check_modelling(target: TargetSpec, model: ModelSpec, promotion: PromotionRule) -> None:
    """The checks that relate ``[target]``, ``[model]`` and ``[promotion]``; each names the key to change."""
    if target.kind == "binary":
        if target.threshold is None:
            raise DeclarationProblem("target.threshold", "is required for a binary use case (flag at this score)")
        if not 0.0 < target.threshold < 1.0:
            raise DeclarationProblem("target.threshold", f"must lie strictly between 0 and 1, got {target.threshold}")
    elif target.threshold is not None:
        raise DeclarationProblem("target.threshold", f"may be set on binary use cases only, this one is {target.kind}")
    if target.interval is not None and target.kind != "regression":
        raise DeclarationProblem(
            "target.interval", f"may be set on regression use cases only, this one is {target.kind}"
        )
    allowed = PROMOTION_METRICS[target.kind]
    if promotion.metric is not None and promotion.metric not in allowed:
        raise DeclarationProblem(
            "promotion.metric",
            f"must be one of {', '.join(allowed)} for a {target.kind} use case, got {promotion.metric!r}",
        )
    if model.pipeline is not None:
        if model.estimator is not None or model.hyperparameters:
            raise DeclarationProblem(
                "model.pipeline", "replaces estimator and hyperparameters: declare one or the other"
            )
        if not callable(import_object(model.pipeline, "model.pipeline")):
            raise DeclarationProblem("model.pipeline", f"{model.pipeline!r} is not a function")
        return
    build_estimator(model, target.kind)
    cls = import_object(estimator_path(model, target.kind), "model.estimator")
    if model.preprocessing == "native" and not is_histogram_boosting(cls):
        raise DeclarationProblem(
            "model.preprocessing", f'"native" needs an estimator that splits on categories, not {cls.__name__}'
        )
