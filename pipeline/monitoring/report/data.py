"""The report's data: read from the BI views (the same contract a BI tool uses) for one use case and range."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pipeline.config.usecase import UseCase
from pipeline.db.bi import usecase_view_names
from pipeline.db.predictions import predictions_table
from pipeline.db.schema import table
from pipeline.errors import PipelineStateError

DEFAULT_DAYS = 30
SCORE_BANDS = (0.05, 0.10, 0.20, 0.40, 0.60)  # binary: edges of the score bands in the distribution plot
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)  # regression: the quantiles of the predictions per date


class ReportError(PipelineStateError, ValueError):
    """Nothing to report, or a bad date range."""


@dataclass
class ReportData:
    """Everything the report shows, read from the BI views for one use case and date range."""

    use_case: str
    description: str
    date_from: dt.date
    date_to: dt.date
    daily: pd.DataFrame
    #: the predictions' distribution per date, by kind: binary score_date x band -> rows; multiclass
    #: score_date x predicted class -> rows; regression score_date x quantile (p05 ... p95) -> predicted value
    distribution: pd.DataFrame
    drift: pd.DataFrame
    performance: pd.DataFrame
    promotions: pd.DataFrame
    alerts: pd.DataFrame  # the latest 25
    alerts_total: int = 0
    champion: dict[str, Any] = field(default_factory=dict)
    kind: str = "binary"
    interval: float | None = None  # regression: the declared coverage of the published interval

    @property
    def bands(self) -> pd.DataFrame:
        """Binary: rows per score date and score band (the distribution plot's)."""
        return self.distribution


# --- reading ---------------------------------------------------------------------------------------------------


def _frame(conn: Any, sql: str, params: dict[str, Any]) -> pd.DataFrame:
    result = conn.execute(sa.text(sql), params)
    return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def resolve_range(
    engine: Engine, uc: UseCase, date_from: dt.date | None, date_to: dt.date | None
) -> tuple[dt.date, dt.date]:
    """The range to report: the given bounds, else the last 30 days up to the latest published date."""
    if date_from and date_to and date_from > date_to:
        raise ReportError(f"--from {date_from} is after --to {date_to}")
    if date_to is None:
        view = table(usecase_view_names(uc)["daily_summary"])
        with engine.connect() as conn:
            latest = conn.execute(sa.text(f"select max(score_date) from {view}")).scalar_one()  # noqa: S608
        if latest is None:
            raise ReportError(f"{uc.name}: no published predictions yet; score a date first (batchscore score)")
        date_to = latest if date_from is None else max(latest, date_from)
    return date_from or date_to - dt.timedelta(days=DEFAULT_DAYS - 1), date_to


def load_report_data(
    engine: Engine, uc: UseCase, date_from: dt.date | None = None, date_to: dt.date | None = None
) -> ReportData:
    """Read the report's data from the BI views (and the predictions table for the score bands). The views
    exist once a night was monitored (or after ``batchscore db migrate``)."""
    date_from, date_to = resolve_range(engine, uc, date_from, date_to)
    views = usecase_view_names(uc)
    window = {"u": uc.name, "f": date_from, "t": date_to}
    summary = table(views["daily_summary"])
    with engine.connect() as conn:
        daily = _frame(
            conn,
            f"select * from {summary} where score_date between :f and :t "  # noqa: S608
            "order by score_date",
            window,
        )
        distribution = _distribution(conn, uc, window)
        drift = _frame(
            conn,
            "select * from batchscore.v_drift where use_case = :u and score_date between :f and :t "
            "order by score_date, feature, metric",
            window,
        )
        performance = _frame(
            conn,
            "select * from batchscore.v_model_performance where use_case = :u "
            "and score_date between :f and :t order by score_date, role, model_version",
            window,
        )
        promotions = _frame(
            conn,
            "select * from batchscore.v_promotions where use_case = :u and not dry_run order by decided_at",
            window,
        )
        alerts = _frame(
            conn,
            "select raised_at, kind, score_date, message from batchscore.alerts "
            "where use_case = :u and (score_date between :f and :t or score_date is null) "
            "order by raised_at desc limit 25",
            window,
        )
        alerts_total = conn.execute(
            sa.text(
                "select count(*) from batchscore.alerts where use_case = :u "
                "and (score_date between :f and :t or score_date is null)"
            ),
            window,
        ).scalar_one()
        champion = (
            conn.execute(
                sa.text(
                    "select version, created_at, holdout_metrics, kind, classes from batchscore.model_versions "
                    "where use_case = :u and status = 'champion'"
                ),
                window,
            )
            .mappings()
            .one_or_none()
        )
    if daily.empty:
        raise ReportError(f"{uc.name}: no published predictions between {date_from} and {date_to}")
    return ReportData(
        uc.name,
        uc.description,
        date_from,
        date_to,
        daily,
        distribution,
        drift,
        performance,
        promotions,
        alerts,
        int(alerts_total),
        dict(champion or {}),
        uc.target.kind,
        uc.target.interval,
    )


def _distribution(conn: Any, uc: UseCase, window: dict[str, Any]) -> pd.DataFrame:
    """The predictions' distribution per date for the kind (see :attr:`ReportData.distribution`)."""
    predictions = predictions_table(uc)
    if uc.target.kind == "regression":
        quantiles = ", ".join(str(q) for q in QUANTILES)
        frame = _frame(
            conn,
            f"select score_date, percentile_cont(array[{quantiles}]::float8[]) within group (order by score) "  # noqa: S608
            f"as q from {predictions} where score_date between :f and :t group by 1 order by 1",
            window,
        )
        columns = [quantile_name(q) for q in QUANTILES]
        values = [list(q) for q in frame["q"]] if not frame.empty else []
        return pd.DataFrame(values, index=pd.Index(frame["score_date"], name="score_date"), columns=columns)
    if uc.target.kind == "multiclass":
        frame = _frame(
            conn,
            f"select score_date, predicted_class, count(*) as n from {predictions} "  # noqa: S608
            "where score_date between :f and :t group by 1, 2 order by 1, 2",
            window,
        )
        return frame.pivot_table(index="score_date", columns="predicted_class", values="n", fill_value=0)
    edges = ", ".join(str(e) for e in SCORE_BANDS)
    bands = _frame(
        conn,
        f"select score_date, width_bucket(score, array[{edges}]::float8[]) as band, "  # noqa: S608
        f"count(*) as n from {predictions} where score_date between :f and :t "
        "group by 1, 2 order by 1, 2",
        window,
    )
    return bands.pivot_table(index="score_date", columns="band", values="n", fill_value=0)


def quantile_name(q: float) -> str:
    """``p05`` for 0.05, ``p50`` for 0.5: the column of a quantile of the predictions."""
    return f"p{round(q * 100):02d}"
