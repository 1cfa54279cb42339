"""A use case is declared, not coded: one TOML file in ``usecases/`` plus its SQL files in ``sql/``.

:func:`load_usecase` reads and checks the declaration and returns a :class:`UseCase`; every error names the
file and the key that is wrong.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.settings import load_settings, project_root
from pipeline.sqlfiles import SqlIdentifierError, quote_ident, sql_path

#: PostgreSQL types a batch column may declare, and how scoring parses them.
NUMERIC_TYPES = {"integer", "bigint", "smallint", "double precision", "real", "numeric"}
TEXT_TYPES = {"text", "varchar", "character varying"}
OTHER_TYPES = {"date", "timestamp", "timestamptz", "boolean"}
ALLOWED_TYPES = NUMERIC_TYPES | TEXT_TYPES | OTHER_TYPES
RESERVED_FEATURE_NAMES = {"entity_id", "score_date"}


class UseCaseError(ValueError):
    """The use-case declaration is invalid; the message names the file and key."""


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
    validation_suite: str
    demo_first_night: dt.date | None = None
    demo_nights: int = 7
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

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

    def sql_text(key: str) -> str:
        relative = get(key, str)
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
    nights = get("demo.nights", int, 7)
    if nights < 1:
        raise UseCaseError(f"{path}: 'demo.nights' must be at least 1")

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
        validation_suite=get("validation.suite", str),
        demo_first_night=date("demo.first_night", None),
        demo_nights=nights,
        raw=raw,
    )
