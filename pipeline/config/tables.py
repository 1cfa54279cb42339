"""The tables of a use-case file, one model each, and the value types their keys use.

Every key has one type, one default and one meaning (the ``description`` of its field, from which
``docs/reference/usecase.md`` is generated); unknown keys are refused; a value is checked where it is declared.
The file as a whole is :class:`pipeline.config.usecase.UseCase`.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from pydantic import AfterValidator, Field, Strict

from pipeline.config.settings import MAX_SHARDS
from pipeline.config.types import (
    Date,
    Int,
    Name,
    Number,
    Severity,
    Share,
    Table,
    Text,
    at_least,
    within,
)

#: PostgreSQL types a batch column may declare
NUMERIC_TYPES = frozenset({"integer", "bigint", "smallint", "double precision", "real", "numeric"})
TEXT_TYPES = frozenset({"text", "varchar", "character varying"})
OTHER_TYPES = frozenset({"date", "timestamp", "timestamptz", "boolean"})
ALLOWED_TYPES = NUMERIC_TYPES | TEXT_TYPES | OTHER_TYPES
RESERVED_FEATURE_NAMES = frozenset({"entity_id", "score_date"})
SEVERITIES = ("critical", "warning", "info")


# --- the tables of a use-case file ---------------------------------------------------------------------------------


class SqlFiles(Table):
    """``[sql]``: the use case's queries, as paths relative to ``sql/``."""

    batch: Text = Field(description="the batch query: one row per entity to score; binds `:date_from`, `:date_to`")
    features: Text = Field(description="the feature query, a SELECT over the relation `batch`")
    labels: Text = Field(
        description="the label query: `entity_id`, `score_date`, `label` (boolean), "
        "`label_known_at`; binds `:date_from`, `:date_to`"
    )


def _column_types(columns: dict[str, str]) -> dict[str, str]:
    return {name: str(kind).lower() for name, kind in columns.items()}


class BatchSpec(Table):
    """``[batch]``: what the batch query returns."""

    columns: Annotated[dict[Name, Text], AfterValidator(_column_types)] = Field(
        description="every column the batch query returns and its PostgreSQL type; must declare `entity_id` and "
        f"`score_date` (type date). Types: {', '.join(sorted(ALLOWED_TYPES))}"
    )


class FeatureSpec(Table):
    """``[features]``: the model's inputs, as the feature query names them."""

    categorical: tuple[Name, ...] = Field((), description="categorical inputs (text)")
    numeric: tuple[Name, ...] = Field((), description="numeric inputs (any numeric type; scored as float)")


class OutputSpec(Table):
    """``[output]``: where the predictions go (all in schema `batchscore`)."""

    predictions_table: Name = Field("predictions", description="the published predictions, partitioned by date")
    shadow_table: Name = Field(
        "shadow_predictions", description="scores of a challenger in trial; never read as predictions"
    )
    views_prefix: Annotated[str, Strict()] | None = Field(
        None,
        description="prefix of the use case's BI views `<prefix>latest_predictions`, `<prefix>daily_summary` "
        "(default `v_<name>_`)",
    )


class TrainingWindows(Table):
    """``[training]``: the first champion's training window and its out-of-time holdout."""

    train_from: Date = Field(description="first score date of the training window")
    train_to: Date = Field(description="last score date of the training window")
    holdout_from: Date = Field(description="first score date of the holdout (after the training window)")
    holdout_to: Date = Field(description="last score date of the holdout")


class RetrainingSpec(Table):
    """``[retraining]``: the weekly challenger's windows, relative to its cut-off date."""

    train_weeks: Annotated[Int, at_least(1)] = Field(20, description="weeks of training data before the holdout")
    holdout_weeks: Annotated[Int, at_least(1)] = Field(4, description="weeks of holdout, the newest labelled ones")
    label_delay_days: Annotated[Int, at_least(0)] = Field(
        2, description="the newest day with known labels at a cut-off (00:00 UTC) is this many days back"
    )


def _challenger(value: str) -> str:
    if value not in ("none", "latest_rejected") and not re.fullmatch(r"v[0-9]+", value):
        raise ValueError(f"must be none, latest_rejected or a version like v3, got {value!r}")
    return value


class ShadowSpec(Table):
    """``[shadow]``: which challenger the scoring DAG also scores, into the shadow table only."""

    challenger: Annotated[Text, AfterValidator(_challenger)] = Field(
        "latest_rejected",
        description='"none", "latest_rejected" (the newest challenger that lost since the '
        'champion took over) or a version such as "v3"',
    )


class CheckSeverities(Table):
    """``[validation.severity]``: the severity of each kind of built-in check (critical stops the run)."""

    row_count: Severity = Field("critical", description="the batch is not empty")
    row_count_band: Severity = Field("critical", description="the volume lies within the band around recent dates")
    freshness: Severity = Field("critical", description="the source holds data through the score date")
    entity_id: Severity = Field("critical", description="entity ids are present and unique")
    column_exists: Severity = Field("critical", description="every declared column is there")
    column_type: Severity = Field("critical", description="every declared column has its declared type")
    all_null: Severity = Field("critical", description="no declared column is entirely null")
    null_rate: Severity = Field("warning", description="the null share of a column stays under its ceiling")
    range: Severity = Field("critical", description="numeric values within their declared ranges")
    categories: Severity = Field("critical", description="few categories the champion never saw")
    event_time: Severity = Field("critical", description="rows are dated inside the score date's window")

    @classmethod
    def unknown_key_message(cls) -> str:
        return f"is not a check kind; kinds: {', '.join(cls.model_fields)}"

    def of(self, kind: str) -> str:
        """The severity of one check kind."""
        return str(getattr(self, kind))


def _increasing(value: tuple[float, float]) -> tuple[float, float]:
    if value[0] >= value[1]:
        raise ValueError(f"must go from earlier to later, got {list(value)}")
    return value


def _straddles_one(value: tuple[float, float]) -> tuple[float, float]:
    if not 0 <= value[0] <= 1 <= value[1]:
        raise ValueError(f"must be [low <= 1, high >= 1], got {list(value)}")
    return value


def _range(value: tuple[float, float]) -> tuple[float, float]:
    low, high = value
    if low > high:
        raise ValueError(f"the minimum {low:g} is above the maximum {high:g}")
    return value


class ValidationSpec(Table):
    """``[validation]``: the suites and the parameters of the built-in checks of the fail-closed gate."""

    suite: Text = Field(description="the batch suite, a file in `expectations/`")
    training_suite: Text | None = Field(None, description="the training and holdout sets' suite (needed to train)")
    freshness: Text | None = Field(
        None,
        description="a query (path relative to `sql/`) returning `fresh_through`: "
        "the source must hold data through the score date",
    )
    event_time_column: Name | None = Field(
        None, description="a date or timestamp column that must lie in the score date's window"
    )
    event_time_window_hours: Annotated[tuple[Number, Number], AfterValidator(_increasing)] = Field(
        (0.0, 24.0), description="the window, in hours from the score date's 00:00 UTC"
    )
    row_count_window_days: Annotated[Int, at_least(1)] = Field(
        28, description="compare the volume with the dates published in this many days before"
    )
    row_count_min_history: Annotated[Int, at_least(1)] = Field(
        3, description="...once at least this many of them exist"
    )
    row_count_band: Annotated[tuple[Number, Number], AfterValidator(_straddles_one)] = Field(
        (0.5, 1.5), description="allowed volume as [low, high] times their mean"
    )
    null_rate_max_default: Share = Field(0.1, description="null share allowed per column unless listed below")
    null_rate_max: dict[Name, Share] = Field({}, description="null share allowed, per column (1: any)")
    ranges: dict[Name, Annotated[tuple[Number, Number], AfterValidator(_range)]] = Field(
        {}, description="[min, max] allowed per numeric column"
    )
    categories: dict[Name, tuple[Text, ...]] = Field(
        {}, description="the allowed values per column, on top of the categories the champion saw"
    )
    max_unseen_category_share: Share = Field(
        0.02, description="share of rows allowed with a category the champion never saw"
    )
    training_min_rows: Annotated[Int, at_least(1)] = Field(1000, description="rows the training set must have")
    severity: CheckSeverities = Field(
        default_factory=CheckSeverities, description="severity per kind of built-in check"
    )


class MonitoringSpec(Table):
    """``[monitoring]``: when drift and performance count as breaches, and how much evidence that needs."""

    psi_threshold: Annotated[Number, within(0.0, 10.0, low_open=True)] = Field(
        0.25, description="population stability index of a feature or the score vs training"
    )
    null_rate_delta_threshold: Annotated[Number, within(0.0, 1.0, low_open=True)] = Field(
        0.10, description="absolute change of a feature's null share vs training"
    )
    unseen_share_threshold: Annotated[Number, within(0.0, 1.0, low_open=True)] = Field(
        0.02, description="share of categories the model never saw"
    )
    min_rows: Annotated[Int, at_least(1)] = Field(200, description="smaller batches are reported, not judged")
    sample_rows: Annotated[Int, at_least(1000)] = Field(
        100_000, description="larger batches are measured on a uniform sample of about this many"
    )
    bins: Annotated[Int, at_least(2), AfterValidator(lambda v: _at_most(v, 50))] = Field(
        10, description="quantile bins of numeric features and of the score"
    )
    performance_lookback_days: Annotated[Int, at_least(1)] = Field(
        28, description="score dates whose labels are re-joined every night (late labels)"
    )
    min_labels: Annotated[Int, at_least(1)] = Field(
        200, description="a date is judged from this many labels (every kind)..."
    )
    min_positives: Annotated[Int, at_least(1)] = Field(5, description="...binary: of which at least this many positive")
    min_class_labels: Annotated[Int, at_least(1)] = Field(
        10, description="...multiclass: and at least this many labels of every class the model version predicts"
    )
    min_average_precision_ratio: Annotated[Number, within(0.0, 1.0, low_open=True)] = Field(
        0.6, description="binary: degraded below this share of the version's holdout average precision"
    )
    min_roc_auc: Annotated[Number, within(0.0, 1.0, low_open=True)] = Field(
        0.7, description="binary: degraded below this ROC AUC"
    )
    min_macro_f1_ratio: Annotated[Number, within(0.0, 1.0, low_open=True)] = Field(
        0.75, description="multiclass: degraded below this share of the version's holdout macro F1"
    )
    max_log_loss_ratio: Annotated[Number, within(1.0, 10.0)] = Field(
        1.5, description="multiclass: degraded above this many times the version's holdout log loss"
    )
    max_mae_ratio: Annotated[Number, within(1.0, 10.0)] = Field(
        1.5, description="regression: degraded above this many times the version's holdout MAE"
    )
    max_coverage_shortfall: Annotated[Number, within(0.0, 1.0, low_open=True)] = Field(
        0.15,
        description="regression with an interval: degraded when the share of labels inside the interval falls "
        "more than this below the declared coverage ([target] interval)",
    )
    ignore_features: tuple[Name, ...] = Field((), description="features not compared (constant within a batch)")


def _at_most(value: int, high: int) -> int:
    if value > high:
        raise ValueError(f"must be at most {high}, got {value}")
    return value


def _ordered_dates(value: tuple[dt.date, dt.date]) -> tuple[dt.date, dt.date]:
    if value[0] > value[1]:
        raise ValueError(f"must go from the first date to the last, got {[d.isoformat() for d in value]}")
    return value


class ScoringSpec(Table):
    """``[scoring]``: how the scoring DAG (``<name>__score``) runs the use case."""

    shards: Annotated[Int, at_least(1), AfterValidator(lambda v: _at_most(v, MAX_SHARDS))] = Field(
        1,
        description=f"parallel score tasks per run, 1-{MAX_SHARDS} (`BATCHSCORE_SHARDS` and the run's `shards` "
        "param win)",
    )
    score_dates: Annotated[tuple[Date, Date], AfterValidator(_ordered_dates)] | None = Field(
        None,
        description="[first, last]: the dates a run may score or train as of (a trigger outside is refused before "
        "anything runs); unset: 1970-01-01 to a year after today",
    )

    def window(self, today: dt.date | None = None) -> tuple[dt.date, dt.date]:
        """The dates a run may score: ``score_dates``, else 1970-01-01 to a year after ``today``."""
        if self.score_dates is not None:
            return self.score_dates
        return dt.date(1970, 1, 1), (today or dt.date.today()) + dt.timedelta(days=366)


class DemoSpec(Table):
    """``[demo]``: what `batchscore demo` scores."""

    first_night: Date | None = Field(None, description="the first night (default: the day after the holdout)")
    nights: Annotated[Int, at_least(1)] = Field(7, description="consecutive nights to score")
