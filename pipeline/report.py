"""The HTML report: one self-contained file (plots embedded as PNG) that an operations manager can open.

It reads the BI views (the same contract a BI tool uses) for a range of score dates and draws: daily volume
and flagged share, the score distribution per date, a drift heatmap (features x dates), model performance
over time per version (champion vs shadow) and the promotion timeline. ``batchscore report`` writes it; the
nightly DAG refreshes it after every run.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pipeline.settings import load_settings
from pipeline.sqlfiles import qualified
from pipeline.usecase import UseCase

log = logging.getLogger(__name__)

DEFAULT_DAYS = 30
SCORE_BANDS = (0.05, 0.10, 0.20, 0.40, 0.60)   # edges of the score bands in the distribution plot
BAND_LABELS = ("< 0.05", "0.05-0.10", "0.10-0.20", "0.20-0.40", "0.40-0.60", ">= 0.60")
BAND_COLOURS = ("#dce9f5", "#a9cbe6", "#f6d18b", "#f1a35c", "#e0673f", "#b2182b")
INK, MUTED, ACCENT, GOOD, BAD = "#1f2933", "#6b7785", "#1f5f99", "#2e7d32", "#c62828"


class ReportError(ValueError):
    """Nothing to report, or a bad date range."""


@dataclass
class ReportData:
    """Everything the report shows, read from the BI views for one use case and date range."""

    use_case: str
    description: str
    date_from: dt.date
    date_to: dt.date
    daily: pd.DataFrame
    bands: pd.DataFrame            # score_date x band -> rows
    drift: pd.DataFrame
    performance: pd.DataFrame
    promotions: pd.DataFrame
    alerts: pd.DataFrame           # the latest 25
    alerts_total: int = 0
    champion: dict[str, Any] = field(default_factory=dict)


# --- reading ---------------------------------------------------------------------------------------------------

def _frame(conn: Any, sql: str, params: dict[str, Any]) -> pd.DataFrame:
    result = conn.execute(sa.text(sql), params)
    return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def resolve_range(engine: Engine, uc: UseCase, date_from: dt.date | None, date_to: dt.date | None
                  ) -> tuple[dt.date, dt.date]:
    """The range to report: the given bounds, else the last 30 days up to the latest published date."""
    from pipeline.views import usecase_view_names

    if date_from and date_to and date_from > date_to:
        raise ReportError(f"--from {date_from} is after --to {date_to}")
    if date_to is None:
        view = qualified("batchscore", usecase_view_names(uc)["daily_summary"])
        with engine.connect() as conn:
            latest = conn.execute(sa.text(f"select max(score_date) from {view}")).scalar_one()  # noqa: S608
        if latest is None:
            raise ReportError(f"{uc.name}: no published predictions yet; score a date first (batchscore score)")
        date_to = latest if date_from is None else max(latest, date_from)
    return date_from or date_to - dt.timedelta(days=DEFAULT_DAYS - 1), date_to


def load_report_data(engine: Engine, uc: UseCase, date_from: dt.date | None = None,
                     date_to: dt.date | None = None) -> ReportData:
    """Read the report's data from the BI views (and the predictions table for the score bands). The views
    exist once a night was monitored (or after ``batchscore db migrate``)."""
    from pipeline.publish import predictions_table
    from pipeline.views import usecase_view_names

    date_from, date_to = resolve_range(engine, uc, date_from, date_to)
    views = usecase_view_names(uc)
    window = {"u": uc.name, "f": date_from, "t": date_to}
    summary = qualified("batchscore", views["daily_summary"])
    edges = ", ".join(str(e) for e in SCORE_BANDS)
    with engine.connect() as conn:
        daily = _frame(conn, f"select * from {summary} where score_date between :f and :t "  # noqa: S608
                             "order by score_date", window)
        bands = _frame(conn, f"select score_date, width_bucket(score, array[{edges}]::float8[]) as band, "  # noqa: S608
                             f"count(*) as n from {predictions_table(uc)} where score_date between :f and :t "
                             "group by 1, 2 order by 1, 2", window)
        drift = _frame(conn, "select * from batchscore.v_drift where use_case = :u and score_date between :f and :t "
                             "order by score_date, feature, metric", window)
        performance = _frame(conn, "select * from batchscore.v_model_performance where use_case = :u "
                                   "and score_date between :f and :t order by score_date, role, model_version", window)
        promotions = _frame(conn, "select * from batchscore.v_promotions where use_case = :u "
                                  "and not dry_run order by decided_at", window)
        alerts = _frame(conn, "select raised_at, kind, score_date, message from batchscore.alerts "
                              "where use_case = :u and (score_date between :f and :t or score_date is null) "
                              "order by raised_at desc limit 25", window)
        alerts_total = conn.execute(
            sa.text("select count(*) from batchscore.alerts where use_case = :u "
                    "and (score_date between :f and :t or score_date is null)"), window).scalar_one()
        champion = conn.execute(
            sa.text("select version, created_at, holdout_metrics from batchscore.model_versions "
                    "where use_case = :u and status = 'champion'"), window).mappings().one_or_none()
    if daily.empty:
        raise ReportError(f"{uc.name}: no published predictions between {date_from} and {date_to}")
    return ReportData(uc.name, uc.description, date_from, date_to, daily,
                      bands.pivot_table(index="score_date", columns="band", values="n", fill_value=0),
                      drift, performance, promotions, alerts, int(alerts_total), dict(champion or {}))


# --- plots (pure: data in, PNG bytes out) ------------------------------------------------------------------------

def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    plt.rcParams.update({
        "font.size": 10, "axes.titlesize": 12, "axes.titleweight": "bold", "axes.titlelocation": "left",
        "axes.edgecolor": "#c5ccd3", "axes.labelcolor": INK, "xtick.color": MUTED, "ytick.color": MUTED,
        "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True, "grid.color": "#e6eaee",
        "grid.linewidth": 0.8, "legend.frameon": False, "figure.dpi": 110,
    })
    return plt


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight", facecolor="white")
    _pyplot().close(fig)
    return buffer.getvalue()


def _date_labels(dates: Any) -> list[str]:
    return [pd.Timestamp(d).strftime("%a %d %b") for d in dates]


def plot_volume(daily: pd.DataFrame) -> bytes:
    """Bars: rows scored per date; line (right axis): share flagged for action."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 3.6))
    x = range(len(daily))
    ax.bar(x, daily["rows_scored"], color="#b9d3ea", width=0.7, label="rows scored")
    ax.set_ylabel("rows scored")
    ax.set_xticks(list(x), _date_labels(daily["score_date"]), rotation=45 if len(daily) > 10 else 0, ha="right"
                  if len(daily) > 10 else "center")
    right = ax.twinx()
    right.plot(list(x), daily["flagged_share"] * 100, color=BAD, marker="o", linewidth=2, label="flagged share")
    right.set_ylabel("flagged (%)", color=BAD)
    right.set_ylim(0, max(5.0, float(daily["flagged_share"].max()) * 130))
    right.grid(False)
    right.spines["right"].set_visible(True)
    for xi, share in zip(x, daily["flagged_share"], strict=True):
        right.annotate(f"{share:.1%}", (xi, share * 100), textcoords="offset points", xytext=(0, 7),
                       ha="center", fontsize=8, color=BAD)
    ax.set_title("Daily volume and share flagged for action")
    handles = ax.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    ax.legend(handles, ["rows scored", "flagged share"], loc="upper left", ncols=2)
    return _png(fig)


def plot_score_bands(bands: pd.DataFrame, threshold: float | None) -> bytes:
    """Stacked shares of score bands per date: how much of each night sits in each risk band."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 3.8))
    counts = bands.reindex(columns=range(len(BAND_LABELS)), fill_value=0)
    shares = counts.div(counts.sum(axis=1), axis=0) * 100
    x = list(range(len(shares)))
    bottom = pd.Series(0.0, index=shares.index)
    for band, (label, colour) in enumerate(zip(BAND_LABELS, BAND_COLOURS, strict=True)):
        ax.bar(x, shares[band], bottom=bottom, color=colour, width=0.75, label=label, edgecolor="white",
               linewidth=0.5)
        bottom += shares[band]
    ax.set_ylim(0, 100)
    ax.set_ylabel("share of rows (%)")
    ax.set_xticks(x, _date_labels(shares.index), rotation=45 if len(x) > 10 else 0,
                  ha="right" if len(x) > 10 else "center")
    note = f" (flagged at score >= {threshold:g})" if threshold is not None else ""
    ax.set_title(f"Score distribution per date{note}")
    ax.legend(title="score band", bbox_to_anchor=(1.01, 1), loc="upper left")
    ax.grid(axis="x", visible=False)
    return _png(fig)


def plot_drift_heatmap(drift: pd.DataFrame, threshold: float) -> bytes:
    """PSI per feature (rows, worst first, the score on top) and date (columns), annotated; hatched cells
    were too small to judge."""
    plt = _pyplot()
    from matplotlib.colors import LinearSegmentedColormap

    psi = drift[drift["metric"] == "psi"]
    if psi.empty:
        fig, ax = plt.subplots(figsize=(10, 1.6))
        ax.axis("off")
        ax.text(0.0, 0.5, "No drift measured in this period.", fontsize=12, color=MUTED)
        return _png(fig)
    table = psi.pivot_table(index="feature", columns="score_date", values="value", aggfunc="max")
    judged = psi.pivot_table(index="feature", columns="score_date", values="status",
                             aggfunc=lambda s: "insufficient" if (s == "insufficient").all() else "judged")
    order = table.max(axis=1).sort_values(ascending=False).index.tolist()
    if "score" in order:
        order = ["score", *[f for f in order if f != "score"]]
    table, judged = table.loc[order], judged.reindex(index=order, columns=table.columns)
    cap = threshold * 4
    cmap = LinearSegmentedColormap.from_list("psi", ["#f7fbff", "#fde0c5", "#f59e5b", "#d7301f", "#7f0000"])
    fig, ax = plt.subplots(figsize=(max(7.5, 1.0 * len(table.columns) + 3.5), 0.36 * len(table) + 1.6))
    image = ax.imshow(table.clip(upper=cap).to_numpy(dtype=float), aspect="auto", cmap=cmap, vmin=0, vmax=cap)
    ax.grid(False)
    ax.set_xticks(range(len(table.columns)), _date_labels(table.columns), rotation=45, ha="right")
    ax.set_yticks(range(len(table.index)), [f"{f} (model output)" if f == "score" else f for f in table.index])
    for i, feature in enumerate(table.index):
        for j, day in enumerate(table.columns):
            value = table.loc[feature, day]
            if pd.isna(value):
                continue
            small = judged.loc[feature, day] == "insufficient"
            text = f"{value:.2f}" if value < 10 else f"{value:.0f}"
            ax.text(j, i, text + ("*" if small else ""), ha="center", va="center", fontsize=7.5,
                    color="white" if value > cap * 0.55 else INK, fontweight="bold" if value > threshold else None)
    bar = fig.colorbar(image, ax=ax, fraction=0.03, pad=0.02)
    bar.set_label("PSI (capped)")
    bar.ax.axhline(threshold, color=INK, linewidth=1.5)
    ax.set_title(f"Drift vs training (population stability index; bold = above {threshold:g}; * = too few rows)")
    return _png(fig)


def plot_performance(performance: pd.DataFrame) -> bytes:
    """Average precision and ROC AUC per date once labels are known: one line per version, champion solid,
    shadow dashed; each version's holdout AP dotted."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    if performance.empty:
        for ax in axes:
            ax.axis("off")
        axes[0].text(0.0, 0.5, "No labels known yet for this period.", fontsize=12, color=MUTED)
        return _png(fig)
    colours = ["#1f5f99", "#e07b24", "#2e7d32", "#8e44ad", "#c62828", "#00838f"]
    versions = sorted(performance["model_version"].unique(), key=lambda v: (len(v), v))
    for ax, metric, title in ((axes[0], "average_precision", "Average precision"), (axes[1], "roc_auc", "ROC AUC")):
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
                ax.scatter(when[~judged], rows.loc[~judged, metric], facecolors="white", edgecolors=colour, s=28,
                           zorder=3)
            holdout = performance.loc[performance["model_version"] == version, f"holdout_{metric}"].dropna()
            if not holdout.empty:
                ax.axhline(float(holdout.iloc[0]), color=colour, linestyle=":", linewidth=1.2)
        ax.set_title(title)
        ax.set_ylim(0, 1)
    axes[0].legend(loc="lower left", fontsize=8)
    fig.autofmt_xdate()
    fig.suptitle("Once labels arrived; dotted: the version's holdout figure at training; hollow: too few labels "
                 "or positives to judge",
                 x=0.01, ha="left", fontsize=10, color=MUTED)
    fig.tight_layout()
    return _png(fig)


def plot_promotions(promotions: pd.DataFrame, date_from: dt.date, date_to: dt.date) -> bytes:
    """Each promotion decision on the time line of the data (its cut-off date): promoted, kept the champion,
    or rolled back."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 2.4))
    ax.set_yticks([])
    ax.grid(axis="y", visible=False)
    ax.spines["left"].set_visible(False)
    ax.set_title("Promotion timeline (▲ promoted, ● challenger rejected, ▼ rollback)")
    if promotions.empty:
        ax.text(0.5, 0.5, "No promotion decisions yet.", transform=ax.transAxes, ha="center", color=MUTED)
        ax.set_xticks([])
        return _png(fig)
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
        extra = f"\nAP {gain:+.3f}" if gain is not None and pd.notna(gain) and not rollback else ""
        ax.annotate(f"{verdict} {row['challenger_version']}{extra}", (when.iloc[i], y), xytext=(8, 0),
                    textcoords="offset points", va="center", fontsize=8, color=INK)
    ax.set_xlim(start, end)
    ax.set_ylim(0, 1)
    ax.axvspan(pd.Timestamp(date_from), pd.Timestamp(date_to), color="#eef4fa", zorder=0)
    ax.axhline(0.5, color="#c5ccd3", linewidth=1, zorder=1)
    fig.autofmt_xdate()
    return _png(fig)


# --- HTML ------------------------------------------------------------------------------------------------------

def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _table(frame: pd.DataFrame, formats: dict[str, Any]) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = []
    for _, row in frame.iterrows():
        cells = []
        for column in frame.columns:
            value = row[column]
            shown = "" if value is None or (not isinstance(value, str) and pd.isna(value)) else (
                formats[column](value) if column in formats else str(value))
            cells.append(f"<td>{html.escape(shown)}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2933;margin:0;background:#f4f6f8}
main{max-width:1120px;margin:0 auto;padding:24px 28px 48px;background:#fff}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:32px 0 6px;border-bottom:1px solid #e6eaee;padding-bottom:4px}
p.lead{color:#6b7785;margin:0 0 16px}p.note{color:#6b7785;font-size:13px;margin:4px 0 10px}
.kpis{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
.kpi{flex:1 1 150px;border:1px solid #e6eaee;border-radius:8px;padding:10px 14px}
.kpi b{display:block;font-size:22px}.kpi span{color:#6b7785;font-size:12px}
.kpi.warn b{color:#c62828}
img{max-width:100%;height:auto;display:block;margin:6px 0}
table{border-collapse:collapse;font-size:13px;width:100%}
th,td{padding:4px 8px;border-bottom:1px solid #eef1f4;text-align:right}
th{background:#f7f9fa;color:#6b7785;font-weight:600}td:first-child,th:first-child,td:last-child{text-align:left}
footer{color:#6b7785;font-size:12px;margin-top:32px}
"""


def render_html(data: ReportData, threshold: float | None, psi_threshold: float) -> str:
    """The whole report as one HTML document with every plot embedded (pure)."""
    daily = data.daily
    drifted_dates = int((daily["drifted_metrics"] > 0).sum()) if "drifted_metrics" in daily else 0
    labelled = data.performance[data.performance["role"] == "champion"].dropna(subset=["average_precision"])
    latest_ap = f"{labelled['average_precision'].iloc[-1]:.2f}" if not labelled.empty else "n/a"
    champion = data.champion.get("version", "none")
    kpis = [
        ("score dates", f"{len(daily)}", False),
        ("rows scored", f"{int(daily['rows_scored'].sum()):,}", False),
        ("flagged share (mean)", f"{daily['flagged_share'].mean():.1%}", False),
        ("champion", str(champion), False),
        ("dates with drift", f"{drifted_dates} of {len(daily)}", drifted_dates > 0),
        ("latest labelled AP", latest_ap, False),
        ("alerts in period", f"{data.alerts_total}", data.alerts_total > 0),
    ]
    kpi_html = "".join(f'<div class="kpi{" warn" if warn else ""}"><b>{html.escape(v)}</b>'
                       f"<span>{html.escape(k)}</span></div>" for k, v, warn in kpis)
    sections = [
        ("Daily volume and flagged share", plot_volume(daily),
         "How many records were scored each night, and which share crossed the action threshold."),
        ("Score distribution per date", plot_score_bands(data.bands, threshold),
         "The share of each night's records in each risk band; a sudden shift means the inputs or the model "
         "changed, not necessarily the world."),
        ("Drift heatmap", plot_drift_heatmap(data.drift, psi_threshold),
         "Population stability index of every model input and of the score against what the model was "
         f"trained on. Below 0.1: stable; above {psi_threshold:g}: the model sees data unlike its training data."),
        ("Model performance over time", plot_performance(data.performance),
         "Computed once the outcomes are known (late outcomes update a date). Champion: the published "
         "predictions; shadow: a challenger scored alongside, never published."),
        ("Promotion timeline", plot_promotions(data.promotions, data.date_from, data.date_to),
         "Weekly retraining decisions: a challenger replaces the champion only when it beats it on the same "
         "evidence."),
    ]
    body = [f'<h1>{html.escape(data.use_case)}: batch scoring report</h1>',
            f'<p class="lead">{html.escape(data.description)}<br>Score dates {data.date_from} to {data.date_to}; '
            f"generated {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.</p>",
            f'<div class="kpis">{kpi_html}</div>']
    for title, png, note in sections:
        body += [f"<h2>{html.escape(title)}</h2>", f'<p class="note">{html.escape(note)}</p>', _img(png, title)]
    summary = daily[["score_date", "rows_scored", "flagged_share", "mean_score", "model_version",
                     "validation_status", "validation_warnings", "drifted_metrics", "run_seconds"]]
    body += ["<h2>Nightly runs</h2>", _table(summary, {
        "rows_scored": lambda v: f"{int(v):,}", "flagged_share": lambda v: f"{v:.1%}",
        "mean_score": lambda v: f"{v:.3f}", "run_seconds": lambda v: f"{v:.1f} s",
        "drifted_metrics": lambda v: str(int(v)), "validation_warnings": lambda v: str(int(v))})]
    if not data.alerts.empty:
        more = data.alerts_total > len(data.alerts)
        shown = f" (the latest {len(data.alerts)} of {data.alerts_total})" if more else ""
        body += [f"<h2>Latest alerts{html.escape(shown)}</h2>", _table(data.alerts[["raised_at", "kind", "message"]], {
            "raised_at": lambda v: pd.Timestamp(v).strftime("%Y-%m-%d %H:%M")})]
    body.append("<footer>batchscore: the numbers come from the BI views (batchscore.v_*) of this database.</footer>")
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(data.use_case)} '
            f"report {data.date_from} to {data.date_to}</title><style>{CSS}</style></head>"
            f"<body><main>{''.join(body)}</main></body></html>")


def default_report_path(uc: UseCase) -> Path:
    """Where the nightly DAG keeps the use case's report: ``$BATCHSCORE_HOME/reports/<use case>.html``."""
    return load_settings().home / "reports" / f"{uc.name}.html"


def write_report(engine: Engine, uc: UseCase, *, date_from: dt.date | None = None, date_to: dt.date | None = None,
                 output: Path | None = None) -> Path:
    """Build the report for the range and write it atomically (a reader never sees half a file)."""
    data = load_report_data(engine, uc, date_from, date_to)
    document = render_html(data, uc.threshold, uc.monitoring.psi_threshold)
    path = (output or default_report_path(uc)).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(document, encoding="utf-8")
    partial.replace(path)
    return path
