"""The report's plots (pure: data in, PNG bytes out), drawn with matplotlib's Agg backend."""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from typing import Any

import pandas as pd

BAND_LABELS = ("< 0.05", "0.05-0.10", "0.10-0.20", "0.20-0.40", "0.40-0.60", ">= 0.60")
BAND_COLOURS = ("#dce9f5", "#a9cbe6", "#f6d18b", "#f1a35c", "#e0673f", "#b2182b")
INK, MUTED, GOOD, BAD = "#1f2933", "#6b7785", "#2e7d32", "#c62828"
OUTPUT_FEATURES = ("score", "predicted_class")  # drift of the model's output, not of an input


def pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "font.size": 10,
            "axes.titlesize": 12,
            "axes.titleweight": "bold",
            "axes.titlelocation": "left",
            "axes.edgecolor": "#c5ccd3",
            "axes.labelcolor": INK,
            "xtick.color": MUTED,
            "ytick.color": MUTED,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.color": "#e6eaee",
            "grid.linewidth": 0.8,
            "legend.frameon": False,
            "figure.dpi": 110,
        }
    )
    return plt


def to_png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight", facecolor="white")
    pyplot().close(fig)
    return buffer.getvalue()


def date_labels(dates: Any) -> list[str]:
    return [pd.Timestamp(d).strftime("%a %d %b") for d in dates]


@dataclass(frozen=True)
class Line:
    """The daily figure the volume plot draws over the bars (right axis)."""

    column: str
    label: str
    spec: str = ".1%"  # how each point is annotated
    percent: bool = True  # a share, drawn in % from 0


FLAGGED_SHARE = Line("flagged_share", "flagged share")


def plot_volume(
    daily: pd.DataFrame, line: Line = FLAGGED_SHARE, title: str = "Daily volume and share flagged for action"
) -> bytes:
    """Bars: rows scored per date; line (right axis): a daily figure (binary: the share flagged for action)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(10, 3.6))
    x = range(len(daily))
    ax.bar(x, daily["rows_scored"], color="#b9d3ea", width=0.7, label="rows scored")
    ax.set_ylabel("rows scored")
    ax.set_xticks(
        list(x),
        date_labels(daily["score_date"]),
        rotation=45 if len(daily) > 10 else 0,
        ha="right" if len(daily) > 10 else "center",
    )
    right = ax.twinx()
    values = pd.to_numeric(daily[line.column], errors="coerce").astype("float64")
    drawn = values * 100 if line.percent else values
    right.plot(list(x), drawn, color=BAD, marker="o", linewidth=2, label=line.label)
    right.set_ylabel(f"{line.label} (%)" if line.percent else line.label, color=BAD)
    if line.percent:
        right.set_ylim(0, max(5.0, float(values.max()) * 130))
    right.grid(False)
    right.spines["right"].set_visible(True)
    for xi, value, y in zip(x, values, drawn, strict=True):
        if pd.isna(value):
            continue
        right.annotate(
            format(value, line.spec),
            (xi, y),
            textcoords="offset points",
            xytext=(0, 7),
            ha="center",
            fontsize=8,
            color=BAD,
        )
    ax.set_title(title)
    handles = ax.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    ax.legend(handles, ["rows scored", line.label], loc="upper left", ncols=2)
    return to_png(fig)


def plot_score_bands(bands: pd.DataFrame, threshold: float | None) -> bytes:
    """Stacked shares of score bands per date: how much of each night sits in each risk band."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(10, 3.8))
    counts = bands.reindex(columns=range(len(BAND_LABELS)), fill_value=0)
    shares = counts.div(counts.sum(axis=1), axis=0) * 100
    x = list(range(len(shares)))
    bottom = pd.Series(0.0, index=shares.index)
    for band, (label, colour) in enumerate(zip(BAND_LABELS, BAND_COLOURS, strict=True)):
        ax.bar(x, shares[band], bottom=bottom, color=colour, width=0.75, label=label, edgecolor="white", linewidth=0.5)
        bottom += shares[band]
    ax.set_ylim(0, 100)
    ax.set_ylabel("share of rows (%)")
    ax.set_xticks(
        x, date_labels(shares.index), rotation=45 if len(x) > 10 else 0, ha="right" if len(x) > 10 else "center"
    )
    note = f" (flagged at score >= {threshold:g})" if threshold is not None else ""
    ax.set_title(f"Score distribution per date{note}")
    ax.legend(title="score band", bbox_to_anchor=(1.01, 1), loc="upper left")
    ax.grid(axis="x", visible=False)
    return to_png(fig)


def heatmap_order(worst_psi: pd.Series) -> list[str]:
    """The heatmap's rows: the model's output first (the score, then a multiclass model's class shares), then the
    inputs, worst PSI first."""
    order = worst_psi.sort_values(ascending=False).index.tolist()
    outputs = [f for f in OUTPUT_FEATURES if f in order]
    return [*outputs, *[f for f in order if f not in outputs]]


def plot_drift_heatmap(drift: pd.DataFrame, threshold: float) -> bytes:
    """PSI per feature (rows, worst first, the score on top) and date (columns), annotated; hatched cells
    were too small to judge."""
    plt = pyplot()
    from matplotlib.colors import LinearSegmentedColormap

    psi = drift[drift["metric"] == "psi"]
    if psi.empty:
        fig, ax = plt.subplots(figsize=(10, 1.6))
        ax.axis("off")
        ax.text(0.0, 0.5, "No drift measured in this period.", fontsize=12, color=MUTED)
        return to_png(fig)
    table = psi.pivot_table(index="feature", columns="score_date", values="value", aggfunc="max")
    judged = psi.pivot_table(
        index="feature",
        columns="score_date",
        values="status",
        aggfunc=lambda s: "insufficient" if (s == "insufficient").all() else "judged",
    )
    order = heatmap_order(table.max(axis=1))
    outputs = [f for f in OUTPUT_FEATURES if f in order]
    table, judged = table.loc[order], judged.reindex(index=order, columns=table.columns)
    cap = threshold * 4
    cmap = LinearSegmentedColormap.from_list("psi", ["#f7fbff", "#fde0c5", "#f59e5b", "#d7301f", "#7f0000"])
    fig, ax = plt.subplots(figsize=(max(7.5, 1.0 * len(table.columns) + 3.5), 0.36 * len(table) + 1.6))
    image = ax.imshow(table.clip(upper=cap).to_numpy(dtype=float), aspect="auto", cmap=cmap, vmin=0, vmax=cap)
    ax.grid(False)
    ax.set_xticks(range(len(table.columns)), date_labels(table.columns), rotation=45, ha="right")
    ax.set_yticks(range(len(table.index)), [f"{f} (model output)" if f in outputs else f for f in table.index])
    for i, feature in enumerate(table.index):
        for j, day in enumerate(table.columns):
            value = table.loc[feature, day]
            if pd.isna(value):
                continue
            small = judged.loc[feature, day] == "insufficient"
            text = f"{value:.2f}" if value < 10 else f"{value:.0f}"
            ax.text(
                j,
                i,
                text + ("*" if small else ""),
                ha="center",
                va="center",
                fontsize=7.5,
                color="white" if value > cap * 0.55 else INK,
                fontweight="bold" if value > threshold else None,
            )
    bar = fig.colorbar(image, ax=ax, fraction=0.03, pad=0.02)
    bar.set_label("PSI (capped)")
    bar.ax.axhline(threshold, color=INK, linewidth=1.5)
    ax.set_title(f"Drift vs training (population stability index; bold = above {threshold:g}; * = too few rows)")
    return to_png(fig)


@dataclass(frozen=True)
class Panel:
    """One metric of the performance plot: its column in v_model_performance, title, the holdout column drawn
    dotted, and the y range (None: fitted to the data)."""

    column: str
    title: str
    holdout: str
    ylim: tuple[float, float] | None = (0.0, 1.0)


BINARY_PANELS = (
    Panel("average_precision", "Average precision", "holdout_average_precision"),
    Panel("roc_auc", "ROC AUC", "holdout_roc_auc"),
)


def plot_performance(
    performance: pd.DataFrame,
    panels: tuple[Panel, ...] = BINARY_PANELS,
    thin: str = "too few labels or positives to judge",
) -> bytes:
    """The kind's metrics per date once labels are known (binary: average precision and ROC AUC): one line per
    version, champion solid, shadow dashed; each version's holdout figure dotted; hollow points: ``thin``."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(11, 3.8), squeeze=False)
    axes = list(axes[0])
    if performance.empty:
        for ax in axes:
            ax.axis("off")
        axes[0].text(0.0, 0.5, "No labels known yet for this period.", fontsize=12, color=MUTED)
        return to_png(fig)
    colours = ["#1f5f99", "#e07b24", "#2e7d32", "#8e44ad", "#c62828", "#00838f"]
    versions = sorted(performance["model_version"].unique(), key=lambda v: (len(v), v))
    for ax, panel in zip(axes, panels, strict=True):
        metric = panel.column
        if metric not in performance or performance[metric].isna().all():
            ax.text(0.02, 0.5, f"{panel.title}: not measured", transform=ax.transAxes, color=MUTED)
            ax.set_title(panel.title)
            continue
        for k, version in enumerate(versions):
            colour = colours[k % len(colours)]
            for role, style in (("champion", "-"), ("shadow", "--")):
                rows = performance[(performance["model_version"] == version) & (performance["role"] == role)]
                rows = rows.dropna(subset=[metric])
                if rows.empty:
                    continue
                when = pd.to_datetime(rows["score_date"])
                ax.plot(when, rows[metric], style, color=colour, linewidth=2, label=f"{version} ({role})")
                judged = rows["status"] != "insufficient"
                ax.scatter(when[judged], rows.loc[judged, metric], color=colour, s=28, zorder=3)
                ax.scatter(
                    when[~judged], rows.loc[~judged, metric], facecolors="white", edgecolors=colour, s=28, zorder=3
                )
            if panel.holdout in performance:
                holdout = performance.loc[performance["model_version"] == version, panel.holdout].dropna()
                if not holdout.empty:
                    ax.axhline(float(holdout.iloc[0]), color=colour, linestyle=":", linewidth=1.2)
        ax.set_title(panel.title)
        if panel.ylim is not None:
            ax.set_ylim(*panel.ylim)
    axes[0].legend(loc="lower left", fontsize=8)
    fig.autofmt_xdate()
    fig.suptitle(
        f"Once labels arrived; dotted: the version's holdout figure at training; hollow: {thin}",
        x=0.01,
        ha="left",
        fontsize=10,
        color=MUTED,
    )
    fig.tight_layout()
    return to_png(fig)


#: how the promotion timeline names a rule's metric
METRIC_LABELS = {
    "average_precision": "AP",
    "roc_auc": "ROC AUC",
    "neg_brier": "-Brier",
    "neg_log_loss": "-log loss",
    "macro_f1": "macro F1",
    "balanced_accuracy": "balanced accuracy",
    "neg_mae": "-MAE",
    "neg_rmse": "-RMSE",
    "r2": "R2",
}


def gain_label(metric: Any, gain: Any) -> str:
    """``AP +0.012``: the decision's gain named by the rule's metric (the metric's own name when unknown)."""
    name = METRIC_LABELS.get(str(metric), str(metric)) if metric is not None and pd.notna(metric) else "gain"
    return f"{name} {gain:+.3f}"


def plot_promotions(promotions: pd.DataFrame, date_from: dt.date, date_to: dt.date) -> bytes:
    """Each promotion decision on the time line of the data (its cut-off date): promoted, kept the champion,
    or rolled back."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(10, 2.4))
    ax.set_yticks([])
    ax.grid(axis="y", visible=False)
    ax.spines["left"].set_visible(False)
    ax.set_title("Promotion timeline (▲ promoted, ● challenger rejected, ▼ rollback)")
    if promotions.empty:
        ax.text(0.5, 0.5, "No promotion decisions yet.", transform=ax.transAxes, ha="center", color=MUTED)
        ax.set_xticks([])
        return to_png(fig)
    decided = pd.to_datetime(promotions["decided_at"], utc=True).dt.tz_localize(None).dt.normalize()
    when = pd.to_datetime(promotions["cutoff_date"]).fillna(decided)
    start = min(pd.Timestamp(date_from), when.min()) - pd.Timedelta(days=2)
    end = max(pd.Timestamp(date_to), when.max()) + pd.Timedelta(days=6)
    for i, (_, row) in enumerate(promotions.iterrows()):
        rollback = row["actor"] == "rollback"
        colour, marker = (BAD, "v") if rollback else ((GOOD, "^") if row["promoted"] else (MUTED, "o"))
        y = 0.3 + 0.4 * (i % 2)
        ax.scatter(when.iloc[i], y, s=120, color=colour, marker=marker, zorder=3)
        verdict = "rolled back to" if rollback else ("promoted" if row["promoted"] else "kept champion over")
        gain = row.get("improvement")
        shown = gain is not None and pd.notna(gain) and not rollback
        extra = f"\n{gain_label(row.get('metric'), gain)}" if shown else ""
        ax.annotate(
            f"{verdict} {row['challenger_version']}{extra}",
            (when.iloc[i], y),
            xytext=(8, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
            color=INK,
        )
    ax.set_xlim(start, end)
    ax.set_ylim(0, 1)
    ax.axvspan(pd.Timestamp(date_from), pd.Timestamp(date_to), color="#eef4fa", zorder=0)
    ax.axhline(0.5, color="#c5ccd3", linewidth=1, zorder=1)
    fig.autofmt_xdate()
    return to_png(fig)
