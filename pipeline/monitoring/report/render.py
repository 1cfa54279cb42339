"""The HTML report: one self-contained file (plots embedded as PNG) that an operations manager can open.

It shows daily volume and the kind's daily figure (binary: the flagged share), the predictions' distribution per
date, a drift heatmap (features x dates), model performance over time per version (champion vs shadow), the
promotion timeline, the nightly runs and the latest alerts (what each task kind shows: :mod:`.kinds`). The page
is ``templates/report.html.j2`` (jinja2, autoescaped); ``batchscore report`` writes it and the nightly DAG
refreshes it after every run.
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
from pipeline.monitoring.report.kinds import (
    HEADLINE,
    distribution_section,
    kind_kpi,
    latest_labelled,
    performance_section,
    run_columns,
    run_formats,
    volume_section,
)
from pipeline.monitoring.report.plots import plot_drift_heatmap, plot_promotions

#: the nightly-runs table of a binary use case (other kinds: :func:`~pipeline.monitoring.report.kinds.run_columns`)
RUN_COLUMNS = run_columns("binary")


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
    """The whole report as one HTML document with every plot embedded, for the use case's task kind (pure)."""
    daily = data.daily
    drifted_dates = int((daily["drifted_metrics"] > 0).sum()) if "drifted_metrics" in daily else 0
    kpis = [
        {"label": "score dates", "value": f"{len(daily)}", "warn": False},
        {"label": "rows scored", "value": f"{int(daily['rows_scored'].sum()):,}", "warn": False},
        kind_kpi(data),
        {"label": "champion", "value": str(data.champion.get("version", "none")), "warn": False},
        {"label": "dates with drift", "value": f"{drifted_dates} of {len(daily)}", "warn": drifted_dates > 0},
        {"label": HEADLINE[data.kind][1], "value": latest_labelled(data), "warn": False},
        {"label": "alerts in period", "value": f"{data.alerts_total}", "warn": data.alerts_total > 0},
    ]
    sections = [
        volume_section(data),
        distribution_section(data, threshold),
        (
            "Drift heatmap",
            plot_drift_heatmap(data.drift, psi_threshold),
            "Population stability index of every model input and of the score against what the model was "
            f"trained on. Below 0.1: stable; above {psi_threshold:g}: the model sees data unlike its training data.",
        ),
        performance_section(data),
        (
            "Promotion timeline",
            plot_promotions(data.promotions, data.date_from, data.date_to),
            "Weekly retraining decisions: a challenger replaces the champion only when it beats it on the same "
            "evidence.",
        ),
    ]
    runs = daily[[c for c in run_columns(data.kind) if c in daily]]
    tables = [{"title": "Nightly runs", "columns": list(runs.columns), "rows": _cells(runs, run_formats())}]
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
