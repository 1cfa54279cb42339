"""The report's plots of the predictions' distribution for the kinds other than binary (pure: data in, PNG
bytes out): a regression's predicted values per date as quantile bands, a multiclass model's predicted-class
shares per date as stacked bars."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from pipeline.monitoring.report.plots import INK, MUTED, date_labels, pyplot, to_png

CLASS_COLOURS = ("#1f5f99", "#e07b24", "#2e7d32", "#8e44ad", "#c62828", "#00838f", "#8d6e63", "#546e7a")


def _ticks(ax: Any, labels: Sequence[Any]) -> None:
    x = list(range(len(labels)))
    many = len(x) > 10
    ax.set_xticks(x, date_labels(labels), rotation=45 if many else 0, ha="right" if many else "center")


def plot_prediction_quantiles(quantiles: pd.DataFrame, unit: str = "predicted value") -> bytes:
    """Regression: per date, the 5-95% and 25-75% ranges of the predicted values (bands) and their median."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(10, 3.8))
    if quantiles.empty:
        ax.axis("off")
        ax.text(0.0, 0.5, "No predictions in this period.", fontsize=12, color=MUTED)
        return to_png(fig)
    x = list(range(len(quantiles)))
    ax.fill_between(x, quantiles["p05"], quantiles["p95"], color="#dce9f5", label="5-95% of rows", step="mid")
    ax.fill_between(x, quantiles["p25"], quantiles["p75"], color="#a9cbe6", label="25-75% of rows", step="mid")
    ax.plot(x, quantiles["p50"], color=INK, marker="o", linewidth=2, label="median")
    for xi, value in zip(x, quantiles["p50"], strict=True):
        ax.annotate(f"{value:.1f}", (xi, value), textcoords="offset points", xytext=(0, 7), ha="center", fontsize=8)
    _ticks(ax, list(quantiles.index))
    ax.set_ylabel(unit)
    ax.set_title("Predicted values per date (median and the middle 50% and 90% of rows)")
    ax.legend(bbox_to_anchor=(1.01, 1), loc="upper left")
    return to_png(fig)


def plot_class_shares(counts: pd.DataFrame, classes: Sequence[str] | None = None) -> bytes:
    """Multiclass: the share of each predicted class per date, stacked (``counts``: score_date x class -> rows;
    ``classes``: the model version's, in its order; a class never predicted shows in the legend at 0%)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(10, 3.8))
    if counts.empty:
        ax.axis("off")
        ax.text(0.0, 0.5, "No predictions in this period.", fontsize=12, color=MUTED)
        return to_png(fig)
    order = [str(c) for c in classes] if classes else []
    order += [str(c) for c in counts.columns if str(c) not in order]
    table = counts.rename(columns=str).reindex(columns=order, fill_value=0)
    shares = table.div(table.sum(axis=1), axis=0) * 100
    x = list(range(len(shares)))
    bottom = pd.Series(0.0, index=shares.index)
    for k, name in enumerate(order):
        colour = CLASS_COLOURS[k % len(CLASS_COLOURS)]
        ax.bar(x, shares[name], bottom=bottom, color=colour, width=0.75, label=name, edgecolor="white", linewidth=0.5)
        bottom += shares[name]
    ax.set_ylim(0, 100)
    ax.set_ylabel("share of rows (%)")
    _ticks(ax, list(shares.index))
    ax.set_title("Predicted class shares per date")
    ax.legend(title="predicted class", bbox_to_anchor=(1.01, 1), loc="upper left")
    ax.grid(axis="x", visible=False)
    return to_png(fig)
