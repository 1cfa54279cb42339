"""What the report shows of each task kind (pure): its key figures, the volume line, the distribution plot,
the performance panels and the columns of the nightly-runs table.

- binary: the share flagged for action, the score in risk bands, average precision and ROC AUC;
- regression: the mean prediction, the predicted values' quantiles per date, MAE against the holdout's and the
  interval's coverage;
- multiclass: the model's mean confidence, the predicted-class shares per date, macro F1 and log loss.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from pipeline.monitoring.formatting import figure
from pipeline.monitoring.report.data import ReportData
from pipeline.monitoring.report.plots import (
    BINARY_PANELS,
    FLAGGED_SHARE,
    Line,
    Panel,
    plot_performance,
    plot_score_bands,
    plot_volume,
)
from pipeline.monitoring.report.plots_kinds import plot_class_shares, plot_prediction_quantiles

Section = tuple[str, bytes, str]

RUN_COLUMNS = {
    "binary": ("score_date", "rows_scored", "flagged_share", "mean_score"),
    "multiclass": ("score_date", "rows_scored", "top_class", "top_class_share", "mean_score"),
    "regression": ("score_date", "rows_scored", "mean_prediction", "prediction_p10", "prediction_p90"),
}
RUN_TAIL = ("model_version", "validation_status", "validation_warnings", "drifted_metrics", "run_seconds")

#: the performance plot's panels per kind
PANELS = {
    "binary": BINARY_PANELS,
    "multiclass": (
        Panel("macro_f1", "Macro F1", "holdout_macro_f1"),
        Panel("log_loss", "Log loss (lower is better)", "holdout_log_loss", None),
    ),
    "regression": (
        Panel("mae", "MAE (lower is better)", "holdout_mae", None),
        Panel("interval_coverage", "Interval coverage", "holdout_interval_coverage"),
    ),
}
#: the key figure "latest labelled ..." per kind: (column, label, format)
HEADLINE = {
    "binary": ("average_precision", "latest labelled AP", ".2f"),
    "multiclass": ("macro_f1", "latest labelled macro F1", ".2f"),
    "regression": ("mae", "latest labelled MAE", ".2f"),
}
THIN = {
    "binary": "too few labels or positives to judge",
    "multiclass": "too few labels, or of one class, to judge",
    "regression": "too few labels to judge",
}


def run_columns(kind: str) -> tuple[str, ...]:
    """The nightly-runs table's columns for a kind."""
    return (*RUN_COLUMNS[kind], *RUN_TAIL)


def run_formats() -> dict[str, Callable[[Any], str]]:
    """How the nightly-runs table writes each column (those not named: as text)."""
    return {
        "rows_scored": lambda v: f"{int(v):,}",
        "flagged_share": lambda v: f"{v:.1%}",
        "top_class_share": lambda v: f"{v:.1%}",
        "mean_score": lambda v: f"{v:.3f}",
        "mean_prediction": lambda v: f"{v:.2f}",
        "prediction_p10": lambda v: f"{v:.2f}",
        "prediction_p90": lambda v: f"{v:.2f}",
        "run_seconds": lambda v: f"{v:.1f} s",
        "drifted_metrics": lambda v: str(int(v)),
        "validation_warnings": lambda v: str(int(v)),
    }


def latest_labelled(data: ReportData) -> str:
    """The kind's headline metric on the latest date of the champion with labels, or n/a."""
    column, _, spec = HEADLINE[data.kind]
    perf = data.performance
    if perf.empty or column not in perf:
        return "n/a"
    labelled = perf[perf["role"] == "champion"].dropna(subset=[column])
    return figure(labelled[column].iloc[-1], spec) if not labelled.empty else "n/a"


def most_predicted(distribution: pd.DataFrame) -> str:
    """Multiclass: the class predicted most often over the period, with its share."""
    if distribution.empty:
        return "n/a"
    totals = distribution.sum(axis=0)
    return f"{totals.idxmax()} ({totals.max() / totals.sum():.0%})"


def kind_kpi(data: ReportData) -> dict[str, Any]:
    """The key figure of the kind's predictions over the period (binary: the mean flagged share)."""
    daily = data.daily
    if data.kind == "regression":
        return {"label": "mean prediction", "value": figure(daily["mean_prediction"].mean(), ".2f"), "warn": False}
    if data.kind == "multiclass":
        return {"label": "most predicted class", "value": most_predicted(data.distribution), "warn": False}
    return {"label": "flagged share (mean)", "value": f"{daily['flagged_share'].mean():.1%}", "warn": False}


def volume_section(data: ReportData) -> Section:
    """The daily volume and the kind's daily figure."""
    if data.kind == "regression":
        line = Line("mean_prediction", "mean prediction", ".1f", percent=False)
        return (
            "Daily volume and mean prediction",
            plot_volume(data.daily, line, "Daily volume and mean predicted value"),
            "How many records were scored each night, and the mean of their predicted values.",
        )
    if data.kind == "multiclass":
        line = Line("mean_score", "mean confidence", ".2f", percent=False)
        return (
            "Daily volume and mean confidence",
            plot_volume(data.daily, line, "Daily volume and the model's mean confidence"),
            "How many records were scored each night, and the mean probability the model gave its predicted "
            "class (a falling confidence means the inputs look less like the training data).",
        )
    return (
        "Daily volume and flagged share",
        plot_volume(data.daily, FLAGGED_SHARE),
        "How many records were scored each night, and which share crossed the action threshold.",
    )


def distribution_section(data: ReportData, threshold: float | None) -> Section:
    """The predictions' distribution per date, drawn for the kind."""
    if data.kind == "regression":
        return (
            "Prediction distribution per date",
            plot_prediction_quantiles(data.distribution),
            "The median predicted value of each night and the range of its middle 50% and 90% of records; a "
            "sudden shift means the inputs or the model changed, not necessarily the world.",
        )
    if data.kind == "multiclass":
        return (
            "Predicted class shares per date",
            plot_class_shares(data.distribution, data.champion.get("classes")),
            "The share of each night's records predicted in each class; a sudden shift means the inputs or the "
            "model changed, not necessarily the world.",
        )
    return (
        "Score distribution per date",
        plot_score_bands(data.distribution, threshold),
        "The share of each night's records in each risk band; a sudden shift means the inputs or the model "
        "changed, not necessarily the world.",
    )


def performance_section(data: ReportData) -> Section:
    """The kind's metrics over time once labels arrived, against the holdout's."""
    note = {
        "binary": "",
        "multiclass": " Macro F1: the mean of the classes' F1 (each class counts the same); log loss: how much "
        "probability the model gave the class that happened.",
        "regression": " MAE: the mean absolute error, in the label's unit"
        + (
            f"; coverage: the share of outcomes inside the published {data.interval:.0%} interval."
            if data.interval is not None
            else "; no interval is published, so no coverage."
        ),
    }[data.kind]
    return (
        "Model performance over time",
        plot_performance(data.performance, PANELS[data.kind], THIN[data.kind]),
        "Computed once the outcomes are known (late outcomes update a date). Champion: the published "
        "predictions; shadow: a challenger scored alongside, never published." + note,
    )
