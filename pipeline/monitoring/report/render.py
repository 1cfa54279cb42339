"""The HTML report: one self-contained file (plots embedded as PNG) that an operations manager can open.

It shows daily volume and flagged share, the score distribution per date, a drift heatmap (features x dates),
model performance over time per version (champion vs shadow), the promotion timeline, the nightly runs and the
latest alerts. The page is ``templates/report.html.j2`` (jinja2, autoescaped); ``batchscore report`` writes it and
the nightly DAG refreshes it after every run.
"""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy.engine import Engine

from pipeline.config.settings import load_settings
from pipeline.config.usecase import UseCase
from pipeline.monitoring.report.data import ReportData, load_report_data
from pipeline.monitoring.report.plots import (
    plot_drift_heatmap,
    plot_performance,
    plot_promotions,
    plot_score_bands,
    plot_volume,
)

RUN_COLUMNS = (
    "score_date",
    "rows_scored",
    "flagged_share",
    "mean_score",
    "model_version",
    "validation_status",
    "validation_warnings",
    "drifted_metrics",
    "run_seconds",
)


def _template() -> Any:
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("pipeline.monitoring.report", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("j2", "html"), default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return environment.get_template("report.html.j2")


def _cells(frame: pd.DataFrame, formats: dict[str, Any]) -> list[list[str]]:
    rows = []
    for _, row in frame.iterrows():
        rows.append(
            [
                ""
                if row[c] is None or (not isinstance(row[c], str) and pd.isna(row[c]))
                else (formats[c](row[c]) if c in formats else str(row[c]))
                for c in frame.columns
            ]
        )
    return rows


def render_html(data: ReportData, threshold: float | None, psi_threshold: float) -> str:
    """The whole report as one HTML document with every plot embedded (pure)."""
    daily = data.daily
    drifted_dates = int((daily["drifted_metrics"] > 0).sum()) if "drifted_metrics" in daily else 0
    labelled = data.performance[data.performance["role"] == "champion"].dropna(subset=["average_precision"])
    latest_ap = f"{labelled['average_precision'].iloc[-1]:.2f}" if not labelled.empty else "n/a"
    kpis = [
        {"label": "score dates", "value": f"{len(daily)}", "warn": False},
        {"label": "rows scored", "value": f"{int(daily['rows_scored'].sum()):,}", "warn": False},
        {"label": "flagged share (mean)", "value": f"{daily['flagged_share'].mean():.1%}", "warn": False},
        {"label": "champion", "value": str(data.champion.get("version", "none")), "warn": False},
        {"label": "dates with drift", "value": f"{drifted_dates} of {len(daily)}", "warn": drifted_dates > 0},
        {"label": "latest labelled AP", "value": latest_ap, "warn": False},
        {"label": "alerts in period", "value": f"{data.alerts_total}", "warn": data.alerts_total > 0},
    ]
    sections = [
        (
            "Daily volume and flagged share",
            plot_volume(daily),
            "How many records were scored each night, and which share crossed the action threshold.",
        ),
        (
            "Score distribution per date",
            plot_score_bands(data.bands, threshold),
            "The share of each night's records in each risk band; a sudden shift means the inputs or the model "
            "changed, not necessarily the world.",
        ),
        (
            "Drift heatmap",
            plot_drift_heatmap(data.drift, psi_threshold),
            "Population stability index of every model input and of the score against what the model was "
            f"trained on. Below 0.1: stable; above {psi_threshold:g}: the model sees data unlike its training data.",
        ),
        (
            "Model performance over time",
            plot_performance(data.performance),
            "Computed once the outcomes are known (late outcomes update a date). Champion: the published "
            "predictions; shadow: a challenger scored alongside, never published.",
        ),
        (
            "Promotion timeline",
            plot_promotions(data.promotions, data.date_from, data.date_to),
            "Weekly retraining decisions: a challenger replaces the champion only when it beats it on the same "
            "evidence.",
        ),
    ]
    runs = daily[list(RUN_COLUMNS)]
    tables = [
        {
            "title": "Nightly runs",
            "columns": list(runs.columns),
            "rows": _cells(
                runs,
                {
                    "rows_scored": lambda v: f"{int(v):,}",
                    "flagged_share": lambda v: f"{v:.1%}",
                    "mean_score": lambda v: f"{v:.3f}",
                    "run_seconds": lambda v: f"{v:.1f} s",
                    "drifted_metrics": lambda v: str(int(v)),
                    "validation_warnings": lambda v: str(int(v)),
                },
            ),
        }
    ]
    if not data.alerts.empty:
        more = data.alerts_total > len(data.alerts)
        shown = f" (the latest {len(data.alerts)} of {data.alerts_total})" if more else ""
        alerts = data.alerts[["raised_at", "kind", "message"]]
        tables.append(
            {
                "title": f"Latest alerts{shown}",
                "columns": list(alerts.columns),
                "rows": _cells(alerts, {"raised_at": lambda v: pd.Timestamp(v).strftime("%Y-%m-%d %H:%M")}),
            }
        )
    return str(
        _template().render(
            use_case=data.use_case,
            description=data.description,
            date_from=data.date_from,
            date_to=data.date_to,
            generated=f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M}",
            kpis=kpis,
            tables=tables,
            sections=[
                {"title": title, "note": note, "png_base64": base64.b64encode(png).decode()}
                for title, png, note in sections
            ],
        )
    )


def default_report_path(uc: UseCase) -> Path:
    """Where the nightly DAG keeps the use case's report: ``$BATCHSCORE_HOME/reports/<use case>.html``."""
    return load_settings().home / "reports" / f"{uc.name}.html"


def write_report(
    engine: Engine,
    uc: UseCase,
    *,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    output: Path | None = None,
) -> Path:
    """Build the report for the range and write it atomically (a reader never sees half a file)."""
    data = load_report_data(engine, uc, date_from, date_to)
    document = render_html(data, uc.target.threshold, uc.monitoring.psi_threshold)
    path = (output or default_report_path(uc)).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(document, encoding="utf-8")
    partial.replace(path)
    return path
