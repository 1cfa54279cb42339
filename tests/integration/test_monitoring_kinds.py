"""Monitoring, the BI views and the report of a regression and a multiclass use case, on real Postgres: copies of
departure_disruption whose label is the departure delay in minutes (regression, with an 80% interval) or a
three-class bucket of it (multiclass), trained, scored for two nights, monitored once the labels are known."""

import datetime as dt
import json

import numpy as np
import pytest
import sqlalchemy as sa

from pipeline import tasks
from pipeline.db.bi import BI_ROLE, grants_needed, usecase_view_names
from pipeline.model.registry import get_champion
from pipeline.model.train import train_and_register
from pipeline.monitoring.alerts import performance_alerts
from pipeline.monitoring.bi_views import ensure_bi_views
from pipeline.monitoring.performance import update_performance
from pipeline.monitoring.report.render import write_report
from tests.integration.usecase_copies import copy_usecase

pytestmark = pytest.mark.integration

NIGHTS = (dt.date(2013, 5, 15), dt.date(2013, 5, 16))
WINDOWS = {
    'train_from = "2013-03-01"': 'train_from = "2013-04-01"',
    'holdout_to = "2013-05-31"': 'holdout_to = "2013-05-14"',
}
KNOWN_AT = "(flight_date + 1)::timestamp at time zone 'UTC' + interval '6 hours'"
# departed flights only: a cancelled one has no delay in minutes (clipped at 300: beyond, a delay is a disruption)
MINUTES_LABELS = f"""
select
    carrier || flight::text || '-' || origin   as entity_id,
    flight_date                                as score_date,
    least(dep_delay, 300)::float8              as label,
    {KNOWN_AT}                                 as label_known_at
from source.flights
where flight_date between cast(:date_from as date) and cast(:date_to as date)
  and dep_time is not null and dep_delay is not null
"""
BUCKET = (
    "case when dep_time is null or dep_delay > 60 then 'disrupted' when dep_delay > 15 then 'late' else 'on_time' end"
)
BUCKET_LABELS = f"""
select
    carrier || flight::text || '-' || origin   as entity_id,
    flight_date                                as score_date,
    {BUCKET}                                   as label,
    {KNOWN_AT}                                 as label_known_at
from source.flights
where flight_date between cast(:date_from as date) and cast(:date_to as date)
"""
COMMON_PREDICTION_COLUMNS = [
    "use_case",
    "kind",
    "entity_id",
    "score_date",
    "score",
    "model_version",
    "run_id",
    "scored_at",
]
COMMON_SUMMARY_COLUMNS = [
    "use_case",
    "kind",
    "score_date",
    "rows_scored",
    "mean_score",
    "model_version",
    "validation_status",
    "validation_warnings",
    "drifted_metrics",
    "score_psi",
    "run_seconds",
    "published_at",
    "run_id",
]


def _kind_case(folder, name, target, labels):
    suite = folder / f"{name}_training.json"
    suite.write_text(
        json.dumps(
            {
                "name": f"{name}_training",
                "meta": {"dataset": f"a training or holdout set of {name}"},
                "expectations": [
                    {
                        "type": "expect_compound_columns_to_be_unique",
                        "kwargs": {"column_list": ["entity_id", "score_date"]},
                        "severity": "critical",
                    },
                    {
                        "type": "expect_column_values_to_not_be_null",
                        "kwargs": {"column": "label"},
                        "severity": "critical",
                    },
                ],
            }
        ),
        encoding="utf-8",
    )
    return copy_usecase(
        folder,
        "departure_disruption",
        name,
        replace={
            **WINDOWS,
            'name = "disrupted"\nthreshold = 0.30': target,
            'training_suite = "departure_disruption_training.json"': f'training_suite = "{suite}"',
        },
        sql={"labels": labels},
    )


def _monitored(engine, uc):
    version = train_and_register(engine, uc, created_by="tests")
    for day in NIGHTS:
        tasks.run_night(day.isoformat(), f"{uc.name}-{day}", uc.ref)
    update_performance(engine, uc, NIGHTS[-1])
    return version


@pytest.fixture(scope="module")
def regression(source, tmp_path_factory):
    folder = tmp_path_factory.mktemp("regression")
    uc = _kind_case(
        folder, "delay_minutes", 'name = "dep_delay_minutes"\nkind = "regression"\ninterval = 0.8', MINUTES_LABELS
    )
    return uc, _monitored(source, uc), folder


@pytest.fixture(scope="module")
def multiclass(source, tmp_path_factory):
    folder = tmp_path_factory.mktemp("multiclass")
    uc = _kind_case(folder, "delay_bucket", 'name = "delay_bucket"\nkind = "multiclass"', BUCKET_LABELS)
    return uc, _monitored(source, uc), folder


def _rows(engine, sql, **params):
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).mappings().all()


def _view(uc, which):
    return f"batchscore.{usecase_view_names(uc)[which]}"


def _performance(engine, uc):
    return _rows(
        engine,
        "select * from batchscore.model_performance where use_case = :u and role = 'champion' order by score_date",
        u=uc.name,
    )


# --- regression -------------------------------------------------------------------------------------------------


def test_regression_performance_is_the_mae_and_coverage_of_the_published_values_against_the_minutes(source, regression):
    uc, version, _ = regression
    stored = _performance(source, uc)
    assert [r["score_date"] for r in stored] == list(NIGHTS)
    expected = _rows(
        source,
        f"select p.score_date, count(*) as n, avg(abs(p.score - l.label)) as mae, avg(p.score - l.label) as bias, "
        f"avg((l.label between p.prediction_lower and p.prediction_upper)::int) as coverage "
        f"from batchscore.{uc.output.predictions_table} p join ({MINUTES_LABELS}) l using (entity_id, score_date) "
        "group by 1 order by 1",
        date_from=NIGHTS[0],
        date_to=NIGHTS[-1],
    )
    for row, truth in zip(stored, expected, strict=True):
        assert row["kind"] == "regression" and row["label_count"] == truth["n"] > 500
        assert row["metrics"]["mae"] == pytest.approx(float(truth["mae"]))
        assert row["metrics"]["bias"] == pytest.approx(float(truth["bias"]))
        assert row["metrics"]["interval_coverage"] == pytest.approx(float(truth["coverage"]))
        assert {"rmse", "r2", "interval_width"} <= set(row["metrics"])
        assert row["positive_count"] is None and row["threshold"] is None and row["average_precision"] is None
        assert row["status"] in ("ok", "degraded")
    assert version.holdout_metrics["mae"] > 0


def test_a_regression_date_whose_mae_is_far_above_the_holdouts_is_degraded_and_says_so_in_minutes(source, regression):
    uc, version, _ = regression
    with source.begin() as conn:  # as if the version had been far better on its holdout
        conn.execute(
            sa.text(
                "update batchscore.model_versions set holdout_metrics = holdout_metrics || '{\"mae\": 1.0}'::jsonb "
                "where use_case = :u and version = :v"
            ),
            {"u": uc.name, "v": version.version},
        )
        conn.execute(sa.text("delete from batchscore.model_performance where use_case = :u"), {"u": uc.name})
    try:
        records = update_performance(source, uc, NIGHTS[-1])
        champion = [r for r in records if r["role"] == "champion"]
        assert {r["status"] for r in champion} == {"degraded"}
        alerts = performance_alerts(uc, champion)
        assert len(alerts) == 2
        mae = champion[-1]["metrics"]["mae"]
        assert f"MAE {mae:.3f} (holdout 1.000)" in alerts[-1].message
        assert f"breached: MAE {mae:.3f} > {uc.monitoring.max_mae_ratio:g} x holdout 1.000" in alerts[-1].message
    finally:
        with source.begin() as conn:
            conn.execute(
                sa.text(
                    "update batchscore.model_versions set holdout_metrics = cast(:m as jsonb) "
                    "where use_case = :u and version = :v"
                ),
                {"m": json.dumps(version.holdout_metrics), "u": uc.name, "v": version.version},
            )
            conn.execute(sa.text("delete from batchscore.model_performance where use_case = :u"), {"u": uc.name})
        update_performance(source, uc, NIGHTS[-1])


def test_regression_score_drift_bins_minutes_with_the_holdouts_quantiles(source, regression):
    uc, _, _ = regression
    rows = _rows(
        source,
        "select score_date, feature, sample_rows, value from batchscore.v_drift where use_case = :u "
        "and feature in ('score', 'predicted_class') and metric = 'psi' order by score_date",
        u=uc.name,
    )
    assert [(r["score_date"], r["feature"]) for r in rows] == [(day, "score") for day in NIGHTS]
    published = _rows(
        source,
        f"select score_date, count(*) as n from batchscore.{uc.output.predictions_table} group by 1 order by 1",
    )
    assert [r["sample_rows"] for r in rows] == [r["n"] for r in published]
    reference = get_champion(source, uc.name)
    assert reference.kind == "regression"


def test_the_regression_views_show_the_use_case_the_predicted_value_its_interval_and_quantiles(source, regression):
    uc, version, _ = regression
    latest = _rows(source, f"select * from {_view(uc, 'latest_predictions')} order by entity_id")
    assert list(latest[0].keys()) == [
        *COMMON_PREDICTION_COLUMNS,
        "predicted_value",
        "prediction_lower",
        "prediction_upper",
    ]
    assert {r["use_case"] for r in latest} == {uc.name} and {r["kind"] for r in latest} == {"regression"}
    assert all(r["predicted_value"] == r["score"] for r in latest)
    assert all(r["prediction_lower"] <= r["predicted_value"] <= r["prediction_upper"] for r in latest)
    summary = _rows(source, f"select * from {_view(uc, 'daily_summary')} order by score_date")
    assert list(summary[0].keys())[: len(COMMON_SUMMARY_COLUMNS)] == COMMON_SUMMARY_COLUMNS
    assert [r["score_date"] for r in summary] == list(NIGHTS)
    for row in summary:
        assert row["use_case"] == uc.name and row["model_version"] == version.version
        assert row["prediction_p10"] < row["prediction_p50"] < row["prediction_p90"]
        assert row["mean_prediction"] == pytest.approx(row["mean_score"]) and row["mean_interval_width"] > 0
    perf = _rows(
        source,
        "select * from batchscore.v_model_performance where use_case = :u and role = 'champion' order by score_date",
        u=uc.name,
    )
    assert [r["kind"] for r in perf] == ["regression"] * 2 and {r["headline_metric"] for r in perf} == {"mae"}
    assert all(r["headline_value"] == pytest.approx(r["mae"]) == pytest.approx(r["metrics"]["mae"]) for r in perf)
    assert perf[0]["holdout_headline_value"] == pytest.approx(version.holdout_metrics["mae"]) == perf[0]["holdout_mae"]
    assert perf[0]["interval_coverage"] is not None and perf[0]["macro_f1"] is None and perf[0]["brier"] is None


def test_the_regression_report_shows_predicted_values_mae_and_coverage_and_nothing_flagged(source, regression):
    uc, _, folder = regression
    path = write_report(source, uc, date_from=NIGHTS[0], date_to=NIGHTS[-1], output=folder / "report.html")
    document = path.read_text(encoding="utf-8")
    assert document.count("<img") == 5
    for title in (
        "Daily volume and mean prediction",
        "Prediction distribution per date",
        "Model performance over time",
    ):
        assert f'alt="{title}"' in document
    assert "latest labelled MAE" in document and "coverage: the share of outcomes inside the published 80%" in document
    assert "flagged" not in document and "risk band" not in document


# --- multiclass -------------------------------------------------------------------------------------------------


def test_multiclass_performance_matches_the_log_loss_of_the_view_s_named_class_probabilities(source, multiclass):
    from sklearn.metrics import log_loss

    uc, version, _ = multiclass
    assert version.classes == ("disrupted", "late", "on_time")
    stored = _performance(source, uc)
    assert [(r["score_date"], r["kind"]) for r in stored] == [(day, "multiclass") for day in NIGHTS]
    latest = _rows(
        source,
        f"select v.class_probabilities, l.label from {_view(uc, 'latest_predictions')} v "
        f"join ({BUCKET_LABELS}) l using (entity_id, score_date) where v.score_date = :d",
        date_from=NIGHTS[-1],
        date_to=NIGHTS[-1],
        d=NIGHTS[-1],
    )
    classes = sorted(version.classes)
    proba = np.array([[r["class_probabilities"][c] for c in classes] for r in latest])
    labels = [r["label"] for r in latest]
    last = stored[-1]
    assert last["label_count"] == len(latest)
    assert last["metrics"]["log_loss"] == pytest.approx(log_loss(labels, proba, labels=classes))
    assert set(last["metrics"]["class_recall"]) == set(version.classes)
    assert sum(last["metrics"]["class_counts"].values()) == len(latest)
    assert last["status"] in ("ok", "degraded", "insufficient") and last["average_precision"] is None


def test_the_multiclass_views_name_every_class_and_show_the_class_shares_of_each_night(source, multiclass):
    uc, version, _ = multiclass
    latest = _rows(source, f"select * from {_view(uc, 'latest_predictions')}")
    assert list(latest[0].keys()) == [*COMMON_PREDICTION_COLUMNS, "predicted_class", "class_probabilities"]
    for row in latest[:200]:
        probabilities = row["class_probabilities"]
        assert set(probabilities) == set(version.classes) and sum(probabilities.values()) == pytest.approx(1.0)
        assert row["predicted_class"] == max(probabilities, key=probabilities.get)
        assert row["score"] == pytest.approx(probabilities[row["predicted_class"]])
    summary = _rows(source, f"select * from {_view(uc, 'daily_summary')} order by score_date")
    assert list(summary[0].keys())[: len(COMMON_SUMMARY_COLUMNS)] == COMMON_SUMMARY_COLUMNS
    counts = _rows(
        source,
        f"select score_date, predicted_class, count(*) as n from batchscore.{uc.output.predictions_table} "
        "group by 1, 2",
    )
    for row in summary:
        assert set(row["class_shares"]) == set(version.classes)
        assert sum(row["class_shares"].values()) == pytest.approx(1.0)
        day = {c["predicted_class"]: c["n"] for c in counts if c["score_date"] == row["score_date"]}
        assert row["top_class"] == max(day, key=day.get)
        assert row["top_class_share"] == pytest.approx(day[row["top_class"]] / row["rows_scored"])
        assert row["class_share_psi"] is not None
    perf = _rows(
        source, "select * from batchscore.v_model_performance where use_case = :u and role = 'champion'", u=uc.name
    )
    assert {r["headline_metric"] for r in perf} == {"macro_f1"}
    assert all(r["headline_value"] == pytest.approx(r["macro_f1"]) for r in perf)
    assert perf[0]["holdout_macro_f1"] == pytest.approx(version.holdout_metrics["macro_f1"])


def test_multiclass_drift_covers_the_score_and_the_predicted_class_shares(source, multiclass):
    uc, _, _ = multiclass
    rows = _rows(
        source,
        "select score_date, feature from batchscore.v_drift where use_case = :u and metric = 'psi' "
        "and feature in ('score', 'predicted_class') order by score_date, feature",
        u=uc.name,
    )
    assert [(r["score_date"], r["feature"]) for r in rows] == [
        (day, feature) for day in NIGHTS for feature in ("predicted_class", "score")
    ]


def test_the_multiclass_report_shows_class_shares_macro_f1_and_log_loss(source, multiclass):
    uc, _, folder = multiclass
    path = write_report(source, uc, date_from=NIGHTS[0], date_to=NIGHTS[-1], output=folder / "report.html")
    document = path.read_text(encoding="utf-8")
    assert document.count("<img") == 5
    for title in ("Daily volume and mean confidence", "Predicted class shares per date", "Model performance over time"):
        assert f'alt="{title}"' in document
    assert "latest labelled macro F1" in document and "most predicted class" in document
    assert "flagged" not in document


# --- the BI contract across use cases --------------------------------------------------------------------------


def test_one_dashboard_can_union_every_kinds_views_and_the_bi_role_may_read_exactly_them(
    source, regression, multiclass, champion
):
    from pipeline.config.loading import load_usecase

    cases = [regression[0], multiclass[0], load_usecase(None)]
    tasks.run_night("2013-08-20", "kinds-union-binary")  # the binary use case publishes a night too
    for uc in cases:
        ensure_bi_views(source, uc)
    latest = " union all ".join(
        f"(select {', '.join(COMMON_PREDICTION_COLUMNS)} from {_view(uc, 'latest_predictions')} limit 5)"
        for uc in cases
    )
    assert {r["kind"] for r in _rows(source, latest)} == {"regression", "multiclass", "binary"}
    daily = " union all ".join(
        f"select {', '.join(COMMON_SUMMARY_COLUMNS)} from {_view(uc, 'daily_summary')}" for uc in cases
    )
    assert {r["use_case"] for r in _rows(source, daily)} == {uc.name for uc in cases}
    with source.connect() as conn:
        if not conn.execute(
            sa.text("select exists (select from pg_roles where rolname = :r)"), {"r": BI_ROLE}
        ).scalar():
            pytest.fail("the BI role was not created by the migrations")
        assert grants_needed(conn) is False
        views = [n for uc in cases for n in usecase_view_names(uc).values()]
        readable = conn.execute(
            sa.text("select has_table_privilege(:r, 'batchscore.' || v, 'SELECT') from unnest(cast(:v as text[])) v"),
            {"r": BI_ROLE, "v": views},
        ).scalars()
        assert all(readable)
        for uc in cases[:2]:
            assert not conn.execute(
                sa.text("select has_table_privilege(:r, :t, 'SELECT')"),
                {"r": BI_ROLE, "t": f"batchscore.{uc.output.predictions_table}"},
            ).scalar()


def test_a_view_made_by_an_earlier_version_with_other_columns_is_replaced_and_granted(source, champion):
    from pipeline.config.loading import load_usecase

    uc = load_usecase(None)
    earlier = (  # shaped as before the task kinds: no kind column, score_date second
        "create view batchscore.v_model_performance as "
        "select use_case, score_date, model_version, role, label_count from batchscore.model_performance"
    )
    with source.begin() as conn:
        conn.execute(sa.text("drop view if exists batchscore.v_model_performance"))
        conn.execute(sa.text(earlier))
    ensure_bi_views(source, uc)
    columns = _rows(
        source,
        "select attname from pg_attribute where attrelid = 'batchscore.v_model_performance'::regclass "
        "and attnum > 0 order by attnum",
    )
    assert [c["attname"] for c in columns][:3] == ["use_case", "kind", "score_date"]
    assert "headline_value" in {c["attname"] for c in columns}
    with source.connect() as conn:
        assert grants_needed(conn) is False  # the re-created view is granted to the BI role again
