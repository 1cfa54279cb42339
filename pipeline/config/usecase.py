"""A use case is declared, not coded: one TOML file in ``usecases/`` plus its SQL files in ``sql/``.

:class:`UseCase` is the TOML file's shape, table for table (the tables are in :mod:`pipeline.config.tables`);
the checks that relate keys to each other run once the whole file is read (:meth:`UseCase._check_references`).
:mod:`pipeline.config.loading` reads a file into a :class:`UseCase` and turns every problem into one line naming
the file and the key path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, PrivateAttr, model_validator

from pipeline.config.identifiers import IDENTIFIER
from pipeline.config.modelling import ModelSpec, PromotionRule, TargetSpec, check_modelling
from pipeline.config.paths import usecases_dir
from pipeline.config.schedule import ScheduleSpec
from pipeline.config.tables import (
    ALLOWED_TYPES,
    NUMERIC_TYPES,
    RESERVED_FEATURE_NAMES,
    SEVERITIES,
    BatchSpec,
    DemoSpec,
    FeatureSpec,
    MonitoringSpec,
    Name,
    OutputSpec,
    RetrainingSpec,
    ScoringSpec,
    ShadowSpec,
    SqlFiles,
    Table,
    Text,
    TrainingWindows,
    ValidationSpec,
)
from pipeline.config.types import DeclarationProblem
from pipeline.errors import ConfigError

__all__ = ["SEVERITIES", "USECASE_VIEWS", "DeclarationProblem", "MonitoringSpec", "PromotionRule", "UseCase"]

#: the BI views of every use case, each named ``<views_prefix><view>``
USECASE_VIEWS = ("latest_predictions", "daily_summary")


class UseCase(Table):
    """A declared scoring use case: the TOML file's tables, plus the text of the SQL files it names."""

    name: Name = Field(description="the use case's name (its runs, models and views carry it)")
    description: Text = Field("", description="one sentence for people: shown in the report")
    entity: Text = Field("", description="what one row is (documentation)")
    sql: SqlFiles
    batch: BatchSpec
    features: FeatureSpec
    target: TargetSpec
    output: OutputSpec = Field(default_factory=OutputSpec)
    model: ModelSpec = Field(default_factory=ModelSpec)
    training: TrainingWindows
    retraining: RetrainingSpec = Field(default_factory=RetrainingSpec)
    promotion: PromotionRule = Field(default_factory=PromotionRule)
    shadow: ShadowSpec = Field(default_factory=ShadowSpec)
    validation: ValidationSpec
    monitoring: MonitoringSpec = Field(default_factory=MonitoringSpec)
    scoring: ScoringSpec = Field(default_factory=ScoringSpec)
    schedule: ScheduleSpec = Field(default_factory=ScheduleSpec)
    demo: DemoSpec = Field(default_factory=DemoSpec)

    _path: Path = PrivateAttr(default=Path("<memory>"))
    _queries: dict[str, str] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _check_references(self) -> UseCase:
        """The checks that relate one key to another; each names the key to change."""
        columns = self.batch.columns
        for column, kind in columns.items():
            if kind not in ALLOWED_TYPES:
                raise DeclarationProblem(
                    f"batch.columns.{column}", f"has type {kind!r}; allowed: {', '.join(sorted(ALLOWED_TYPES))}"
                )
        for required in ("entity_id", "score_date"):
            if required not in columns:
                raise DeclarationProblem("batch.columns", f"must declare '{required}'")
        if columns["score_date"] != "date":
            raise DeclarationProblem("batch.columns.score_date", "must be of type date")
        self._check_features()
        t = self.training
        if not t.train_from <= t.train_to < t.holdout_from <= t.holdout_to:
            raise DeclarationProblem(
                "training",
                "needs train_from <= train_to < holdout_from <= holdout_to "
                "(the holdout must come after the training window)",
            )
        self._check_validation()
        check_modelling(self.target, self.model, self.promotion)
        unknown = [f for f in self.monitoring.ignore_features if f not in self.feature_columns]
        if unknown:
            raise DeclarationProblem(
                "monitoring.ignore_features", f"names columns that are not features: {', '.join(unknown)}"
            )
        if not all(IDENTIFIER.fullmatch(f"{self.views_prefix}{view}") for view in USECASE_VIEWS):
            raise DeclarationProblem(
                "output.views_prefix",
                f"{self.views_prefix!r} does not make valid view names (lowercase letters, digits and '_')",
            )
        return self

    def _check_features(self) -> None:
        both = self.features.categorical + self.features.numeric
        for key, values in (
            ("features.categorical", self.features.categorical),
            ("features.numeric", self.features.numeric),
        ):
            reserved = [v for v in values if v in RESERVED_FEATURE_NAMES]
            if reserved:
                raise DeclarationProblem(key, f"may not use the reserved column {reserved[0]!r}")
        duplicated = sorted({c for c in both if both.count(c) > 1})
        if duplicated:
            raise DeclarationProblem("features", f"has features listed twice: {', '.join(duplicated)}")
        if not both:
            raise DeclarationProblem("features", "declares no feature: list at least one")

    def _check_validation(self) -> None:
        v, columns = self.validation, self.batch.columns

        def declared(key: str, column: str) -> None:
            if column not in columns:
                raise DeclarationProblem(key, f"names {column!r}, which is not a declared batch column")

        for column in v.ranges:
            declared(f"validation.ranges.{column}", column)
            if columns[column] not in NUMERIC_TYPES:
                raise DeclarationProblem(
                    f"validation.ranges.{column}", f"a range needs a numeric column, {column} is {columns[column]}"
                )
        for table, names in (("null_rate_max", v.null_rate_max), ("categories", v.categories)):
            for column in names:
                declared(f"validation.{table}.{column}", column)
        if v.event_time_column is not None:
            declared("validation.event_time_column", v.event_time_column)
            if columns[v.event_time_column] not in {"timestamp", "timestamptz", "date"}:
                raise DeclarationProblem("validation.event_time_column", "must be a date or timestamp column")

    # --- derived, read-only ---------------------------------------------------------------------------------------

    @property
    def path(self) -> Path:
        """The TOML file this use case was read from."""
        return self._path

    @property
    def ref(self) -> str:
        """How to load this use case again: its name, or its TOML path when it lives outside ``usecases/``."""
        return self.name if self.path == usecases_dir() / f"{self.name}.toml" else str(self.path)

    @property
    def feature_columns(self) -> tuple[str, ...]:
        """Model inputs in the order the model sees them: categoricals first, then numerics."""
        return self.features.categorical + self.features.numeric

    @property
    def views_prefix(self) -> str:
        """The prefix of the use case's BI views: ``[output] views_prefix``, else ``v_<name>_``."""
        return self.output.views_prefix if self.output.views_prefix is not None else f"v_{self.name}_"

    def query(self, kind: Literal["batch", "features", "labels", "freshness"]) -> str:
        """The text of one of the use case's SQL files (read when the use case was loaded)."""
        if kind not in self._queries:
            raise ConfigError(f"{self.name}: no {kind} query declared")
        return self._queries[kind]

    def with_queries(self, path: Path, queries: dict[str, str]) -> UseCase:
        """This use case bound to its file and the texts of its SQL files (the loader calls it)."""
        bound = self.model_copy()
        bound._path, bound._queries = path, dict(queries)
        return bound
