"""A use case is declared, not coded: one TOML file in ``usecases/`` plus its SQL files in ``sql/``.

:func:`load_usecase` reads and checks the declaration and returns a :class:`UseCase`; every error names the
file and the key that is wrong.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.settings import load_settings, project_root
from pipeline.shards import MAX_SHARDS
from pipeline.sqlfiles import SqlIdentifierError, quote_ident, sql_path

#: PostgreSQL types a batch column may declare, and how scoring parses them.
NUMERIC_TYPES = {"integer", "bigint", "smallint", "double precision", "real", "numeric"}
TEXT_TYPES = {"text", "varchar", "character varying"}
OTHER_TYPES = {"date", "timestamp", "timestamptz", "boolean"}
ALLOWED_TYPES = NUMERIC_TYPES | TEXT_TYPES | OTHER_TYPES
RESERVED_FEATURE_NAMES = {"entity_id", "score_date"}


#: kinds of built-in validation checks and their default severity (``[validation.severity]`` overrides)
DEFAULT_SEVERITY: dict[str, str] = {
    "row_count": "critical",        # the batch is not empty
    "row_count_band": "critical",   # volume within a band around the trailing mean of published dates
    "freshness": "critical",        # the source holds data through the score date
    "entity_id": "critical",        # entity ids present and unique
    "column_exists": "critical",
    "column_type": "critical",
    "all_null": "critical",         # a declared column entirely null
    "null_rate": "warning",         # null share above the column's ceiling
    "range": "critical",            # numeric values outside the declared range
    "categories": "critical",       # share of categories the champion never saw above the ceiling
    "event_time": "critical",       # rows dated outside the score date's window (e.g. in the future)
}
SEVERITIES = ("critical", "warning", "info")


class UseCaseError(ValueError):
    """The use-case declaration is invalid; the message names the file and key."""


@dataclass(frozen=True)
class RetrainingConfig:
    """``[retraining]``, ``[promotion]`` and ``[shadow]``: the weekly challenger and how it may win."""

    train_weeks: int = 20
    holdout_weeks: int = 4
    label_delay_days: int = 2          # the newest day with known labels at a cut-off (00:00 UTC) is this far back
    rule: Any = None                   # pipeline.promotion.PromotionRule
    shadow: str = "latest_rejected"    # "none", "latest_rejected" or a version such as "v3"


@dataclass(frozen=True)
class ValidationConfig:
    """The ``[validation]`` table of a use case: the suites and the built-in checks' parameters."""

    suite: str
    training_suite: str | None = None
    freshness_sql: str | None = None
    event_time_column: str | None = None
    event_time_window_hours: tuple[float, float] = (0.0, 24.0)
    row_count_window_days: int = 28
    row_count_min_history: int = 3
    row_count_band: tuple[float, float] = (0.5, 1.5)
    null_rate_max_default: float = 0.1
    null_rate_max: dict[str, float] = field(default_factory=dict)
    ranges: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    categories: dict[str, tuple[str, ...]] = field(default_factory=dict)
    max_unseen_category_share: float = 0.02
    training_min_rows: int = 1000
    severity: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_SEVERITY))


@dataclass(frozen=True)
class MonitoringConfig:
    """``[monitoring]``: when drift and performance count as breaches, and how much evidence that needs."""

    psi_threshold: float = 0.25             # population stability index per feature and for the score
    null_rate_delta_threshold: float = 0.10  # absolute change of a feature's null share vs training
    unseen_share_threshold: float = 0.02     # share of categories the model never saw
    min_rows: int = 200                      # below this a batch is reported but not judged
    sample_rows: int = 100_000               # larger batches are measured on a uniform sample of about this many
    bins: int = 10                           # quantile bins of the numeric references
    performance_lookback_days: int = 28      # score dates whose labels are (re)joined every night
    min_labels: int = 200                    # a date's performance is judged from this many labels...
    min_positives: int = 5                   # ...of which at least this many positive
    min_average_precision_ratio: float = 0.6  # degraded below this share of the version's holdout AP
    min_roc_auc: float = 0.7                 # degraded below this ROC AUC
    ignore_features: tuple[str, ...] = ()    # features not compared (e.g. constant within a nightly batch)


@dataclass(frozen=True)
class UseCase:
    """A declared scoring use case (see ``usecases/flight_cancellation.toml`` for a documented example)."""

    name: str
    path: Path
    description: str
    entity: str
    batch_sql: str
    features_sql: str
    labels_sql: str
    batch_columns: dict[str, str]
    categorical: tuple[str, ...]
    numeric: tuple[str, ...]
    target: str
    threshold: float
    predictions_table: str
    random_state: int
    hyperparameters: dict[str, Any]
    train_from: dt.date
    train_to: dt.date
    holdout_from: dt.date
    holdout_to: dt.date
    validation: ValidationConfig
    retraining: RetrainingConfig
    shadow_table: str = "shadow_predictions"
    demo_first_night: dt.date | None = None
    demo_nights: int = 7
    monitoring: MonitoringConfig = field(default_factory=MonitoringConfig)
    views_prefix: str = "v_"
    shards: int = 1                    # [scoring] shards: score_daily's parallel score tasks (BATCHSCORE_SHARDS wins)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def ref(self) -> str:
        """How to load this use case again: its name, or its TOML path when it lives outside ``usecases/``."""
        return self.name if self.path == project_root() / "usecases" / f"{self.name}.toml" else str(self.path)

    @property
    def feature_columns(self) -> tuple[str, ...]:
        """Model inputs in the order the model sees them: categoricals first, then numerics."""
        return self.categorical + self.numeric


def usecase_path(name: str) -> Path:
    """The TOML file of a use case: a path, or a name looked up in ``usecases/``."""
    candidate = Path(name)
    if candidate.suffix == ".toml":
        return candidate.resolve()
    quote_ident(name, what="use-case name")
    return project_root() / "usecases" / f"{name}.toml"


def load_usecase(name: str | None = None) -> UseCase:
    """Load and validate a use case (default: ``BATCHSCORE_USECASE`` or ``flight_cancellation``)."""
    path = usecase_path(name or load_settings().usecase)
    if not path.is_file():
        available = sorted(p.stem for p in (project_root() / "usecases").glob("*.toml"))
        raise UseCaseError(f"use case file not found: {path} (available: {', '.join(available) or 'none'})")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise UseCaseError(f"{path}: not valid TOML: {exc}") from None
    return parse_usecase(raw, path)


def parse_usecase(raw: dict[str, Any], path: Path) -> UseCase:
    """Validate a parsed declaration; pure apart from reading the SQL files it names."""

    def get(key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        node: Any = raw
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                if default is not ...:
                    return default
                raise UseCaseError(f"{path}: missing key '{key}'")
            node = node[part]
        if not isinstance(node, kind) or (kind is int and isinstance(node, bool)):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise UseCaseError(f"{path}: '{key}' must be {names}, got {node!r}")
        return node

    def ident(key: str, value: str, what: str) -> str:
        try:
            quote_ident(value, what=what)
        except SqlIdentifierError as exc:
            raise UseCaseError(f"{path}: '{key}': {exc}") from None
        return value

    def date(key: str, default: Any = ...) -> Any:
        value = get(key, (dt.date, str), default)
        if value is None or isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise UseCaseError(f"{path}: '{key}' must be a date YYYY-MM-DD, got {value!r}") from None

    def sql_text(key: str, default: Any = ...) -> Any:
        relative = get(key, str, default)
        if relative is None:
            return None
        try:
            return sql_path(relative).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UseCaseError(f"{path}: '{key}' names a missing SQL file: sql/{relative}") from None

    name = ident("name", get("name", str), "use-case name")
    columns_raw = get("batch.columns", dict)
    columns: dict[str, str] = {}
    for column, sql_type in columns_raw.items():
        ident(f"batch.columns.{column}", column, "column name")
        if not isinstance(sql_type, str) or sql_type.lower() not in ALLOWED_TYPES:
            raise UseCaseError(
                f"{path}: 'batch.columns.{column}' has type {sql_type!r}; "
                f"allowed: {', '.join(sorted(ALLOWED_TYPES))}"
            )
        columns[column] = sql_type.lower()
    for required in ("entity_id", "score_date"):
        if required not in columns:
            raise UseCaseError(f"{path}: 'batch.columns' must declare '{required}'")
    if columns["score_date"] != "date":
        raise UseCaseError(f"{path}: 'batch.columns.score_date' must be of type date")

    categorical = tuple(get("features.categorical", list))
    numeric = tuple(get("features.numeric", list))
    for key, values in (("features.categorical", categorical), ("features.numeric", numeric)):
        for value in values:
            if not isinstance(value, str):
                raise UseCaseError(f"{path}: '{key}' must list column names, got {value!r}")
            ident(key, value, "feature name")
            if value in RESERVED_FEATURE_NAMES:
                raise UseCaseError(f"{path}: '{key}' may not use the reserved column {value!r}")
    duplicated = sorted({c for c in categorical + numeric if (categorical + numeric).count(c) > 1})
    if duplicated:
        raise UseCaseError(f"{path}: features listed twice: {', '.join(duplicated)}")
    if not categorical + numeric:
        raise UseCaseError(f"{path}: declare at least one feature under [features]")

    threshold = float(get("target.threshold", (int, float)))
    if not 0.0 < threshold < 1.0:
        raise UseCaseError(f"{path}: 'target.threshold' must lie strictly between 0 and 1, got {threshold}")

    train_from, train_to = date("training.train_from"), date("training.train_to")
    holdout_from, holdout_to = date("training.holdout_from"), date("training.holdout_to")
    if not train_from <= train_to < holdout_from <= holdout_to:
        raise UseCaseError(
            f"{path}: [training] needs train_from <= train_to < holdout_from <= holdout_to "
            "(the holdout must come after the training window)"
        )
    validation = parse_validation(get, ident, sql_text, path, columns)
    retraining = parse_retraining(get, path)
    nights = get("demo.nights", int, 7)
    if nights < 1:
        raise UseCaseError(f"{path}: 'demo.nights' must be at least 1")
    monitoring = parse_monitoring(get, path, categorical + numeric)
    views_prefix = get("output.views_prefix", str, f"v_{name}_")
    ident("output.views_prefix", f"{views_prefix}daily_summary", "view name")
    shards = get("scoring.shards", int, 1)
    if not 1 <= shards <= MAX_SHARDS:
        raise UseCaseError(f"{path}: 'scoring.shards' must be from 1 to {MAX_SHARDS}, got {shards}")

    return UseCase(
        name=name,
        path=path,
        description=get("description", str, ""),
        entity=get("entity", str, ""),
        batch_sql=sql_text("sql.batch"),
        features_sql=sql_text("sql.features"),
        labels_sql=sql_text("sql.labels"),
        batch_columns=columns,
        categorical=categorical,
        numeric=numeric,
        target=get("target.name", str),
        threshold=threshold,
        predictions_table=ident(
            "output.predictions_table", get("output.predictions_table", str, "predictions"), "table name"
        ),
        random_state=get("model.random_state", int, 0),
        hyperparameters=dict(get("model.hyperparameters", dict, {})),
        train_from=train_from,
        train_to=train_to,
        holdout_from=holdout_from,
        holdout_to=holdout_to,
        validation=validation,
        retraining=retraining,
        shadow_table=ident("output.shadow_table", get("output.shadow_table", str, "shadow_predictions"), "table name"),
        demo_first_night=date("demo.first_night", None),
        demo_nights=nights,
        monitoring=monitoring,
        views_prefix=views_prefix,
        shards=shards,
        raw=raw,
    )


def parse_validation(get: Any, ident: Any, sql_text: Any, path: Path, columns: dict[str, str]) -> ValidationConfig:
    """The ``[validation]`` table, checked against the declared batch columns."""

    def column(key: str, name: str) -> str:
        ident(key, name, "column name")
        if name not in columns:
            raise UseCaseError(f"{path}: '{key}' names {name!r}, which is not a declared batch column")
        return name

    def ratio(key: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise UseCaseError(f"{path}: '{key}' must be a share between 0 and 1, got {value!r}")
        return float(value)

    def pair(key: str, value: Any, *, allow_none: bool = False) -> tuple[Any, Any]:
        ok = isinstance(value, list) and len(value) == 2 and all(
            (v is None and allow_none) or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in value
        )
        if not ok:
            raise UseCaseError(f"{path}: '{key}' must be a list of two numbers, got {value!r}")
        return value[0], value[1]

    severity = dict(DEFAULT_SEVERITY)
    for kind, level in get("validation.severity", dict, {}).items():
        if kind not in DEFAULT_SEVERITY:
            raise UseCaseError(
                f"{path}: 'validation.severity.{kind}' is not a check kind; kinds: {', '.join(DEFAULT_SEVERITY)}"
            )
        if level not in SEVERITIES:
            raise UseCaseError(f"{path}: 'validation.severity.{kind}' must be one of {SEVERITIES}, got {level!r}")
        severity[kind] = level

    ranges: dict[str, tuple[float | None, float | None]] = {}
    for name, value in get("validation.ranges", dict, {}).items():
        key = f"validation.ranges.{name}"
        column(key, name)
        if columns[name] not in NUMERIC_TYPES:
            raise UseCaseError(f"{path}: '{key}': a range needs a numeric column, {name} is {columns[name]}")
        low, high = pair(key, value, allow_none=True)
        if low is not None and high is not None and low > high:
            raise UseCaseError(f"{path}: '{key}': the minimum {low} is above the maximum {high}")
        ranges[name] = (low, high)

    categories = {}
    for name, values in get("validation.categories", dict, {}).items():
        column(f"validation.categories.{name}", name)
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise UseCaseError(f"{path}: 'validation.categories.{name}' must be a list of strings")
        categories[name] = tuple(values)

    event_time = get("validation.event_time_column", str, None)
    if event_time is not None:
        column("validation.event_time_column", event_time)
        if columns[event_time] not in {"timestamp", "timestamptz", "date"}:
            raise UseCaseError(f"{path}: 'validation.event_time_column' must be a date or timestamp column")
    window = pair("validation.event_time_window_hours", get("validation.event_time_window_hours", list, [0, 24]))
    if window[0] >= window[1]:
        raise UseCaseError(f"{path}: 'validation.event_time_window_hours' must go from earlier to later")
    band = pair("validation.row_count_band", get("validation.row_count_band", list, [0.5, 1.5]))
    if not 0 <= band[0] <= 1 <= band[1]:
        raise UseCaseError(f"{path}: 'validation.row_count_band' must be [low <= 1, high >= 1], got {list(band)}")
    for key in ("row_count_window_days", "row_count_min_history", "training_min_rows"):
        if get(f"validation.{key}", int, 1) < 1:
            raise UseCaseError(f"{path}: 'validation.{key}' must be at least 1")

    return ValidationConfig(
        suite=get("validation.suite", str),
        training_suite=get("validation.training_suite", str, None),
        freshness_sql=sql_text("validation.freshness", None),
        event_time_column=event_time,
        event_time_window_hours=(float(window[0]), float(window[1])),
        row_count_window_days=get("validation.row_count_window_days", int, 28),
        row_count_min_history=get("validation.row_count_min_history", int, 3),
        row_count_band=(float(band[0]), float(band[1])),
        null_rate_max_default=ratio("validation.null_rate_max_default",
                                    get("validation.null_rate_max_default", (int, float), 0.1)),
        null_rate_max={
            column(f"validation.null_rate_max.{n}", n): ratio(f"validation.null_rate_max.{n}", v)
            for n, v in get("validation.null_rate_max", dict, {}).items()
        },
        ranges=ranges,
        categories=categories,
        max_unseen_category_share=ratio("validation.max_unseen_category_share",
                                        get("validation.max_unseen_category_share", (int, float), 0.02)),
        training_min_rows=get("validation.training_min_rows", int, 1000),
        severity=severity,
    )


def parse_retraining(get: Any, path: Path) -> RetrainingConfig:
    """The ``[retraining]``, ``[promotion]`` and ``[shadow]`` tables."""
    from pipeline.promotion import METRICS, PromotionRule

    weeks = {k: get(f"retraining.{k}", int, d) for k, d in (("train_weeks", 20), ("holdout_weeks", 4))}
    for key, value in weeks.items():
        if value < 1:
            raise UseCaseError(f"{path}: 'retraining.{key}' must be at least 1 week")
    delay = get("retraining.label_delay_days", int, 2)
    if delay < 0:
        raise UseCaseError(f"{path}: 'retraining.label_delay_days' cannot be negative")
    metric = get("promotion.metric", str, "average_precision")
    if metric not in METRICS:
        raise UseCaseError(f"{path}: 'promotion.metric' must be one of {', '.join(METRICS)}, got {metric!r}")
    bounds = get("promotion.flagged_share_bounds", list, [0.001, 0.5])
    if len(bounds) != 2 or not 0 <= bounds[0] < bounds[1] <= 1:
        raise UseCaseError(f"{path}: 'promotion.flagged_share_bounds' must be [low, high] within [0, 1]")
    win_share = float(get("promotion.min_win_share", (int, float), 0.95))
    if not 0.5 <= win_share <= 1:
        raise UseCaseError(f"{path}: 'promotion.min_win_share' must lie between 0.5 and 1")
    samples = get("promotion.bootstrap_samples", int, 300)
    if samples < 50:
        raise UseCaseError(f"{path}: 'promotion.bootstrap_samples' must be at least 50")
    rule = PromotionRule(
        metric=metric,
        min_improvement=float(get("promotion.min_improvement", (int, float), 0.005)),
        bootstrap_samples=samples,
        min_win_share=win_share,
        brier_tolerance=float(get("promotion.brier_tolerance", (int, float), 0.002)),
        flagged_share_bounds=(float(bounds[0]), float(bounds[1])),
        seed=get("promotion.seed", int, 13),
    )
    shadow = get("shadow.challenger", str, "latest_rejected")
    if shadow not in ("none", "latest_rejected") and not re.match(r"^v[0-9]+$", shadow):
        raise UseCaseError(f"{path}: 'shadow.challenger' must be none, latest_rejected or a version like v3")
    return RetrainingConfig(weeks["train_weeks"], weeks["holdout_weeks"], delay, rule, shadow)


def parse_monitoring(get: Any, path: Path, features: tuple[str, ...]) -> MonitoringConfig:
    """``[monitoring]`` with its defaults; every value is checked and an error names the key."""
    defaults = MonitoringConfig()
    values: dict[str, Any] = {}
    ratios = ("psi_threshold", "null_rate_delta_threshold", "unseen_share_threshold",
              "min_average_precision_ratio", "min_roc_auc")
    for key in ratios:
        value = float(get(f"monitoring.{key}", (int, float), getattr(defaults, key)))
        upper = 10.0 if key == "psi_threshold" else 1.0
        if not 0.0 < value <= upper:
            raise UseCaseError(f"{path}: 'monitoring.{key}' must lie in (0, {upper:g}], got {value}")
        values[key] = value
    for key, lowest in (("min_rows", 1), ("sample_rows", 1000), ("bins", 2), ("performance_lookback_days", 1),
                        ("min_labels", 1), ("min_positives", 1)):
        value = get(f"monitoring.{key}", int, getattr(defaults, key))
        if isinstance(value, bool) or value < lowest:
            raise UseCaseError(f"{path}: 'monitoring.{key}' must be an integer of at least {lowest}, got {value!r}")
        values[key] = value
    if values["bins"] > 50:
        raise UseCaseError(f"{path}: 'monitoring.bins' must be at most 50, got {values['bins']}")
    ignored = get("monitoring.ignore_features", list, [])
    unknown = [f for f in ignored if f not in features]
    if unknown:
        raise UseCaseError(f"{path}: 'monitoring.ignore_features' names columns that are not features: "
                           f"{', '.join(map(str, unknown))}")
    return MonitoringConfig(**values, ignore_features=tuple(ignored))
