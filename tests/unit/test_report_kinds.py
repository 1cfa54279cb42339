"""The report per task kind, on synthetic frames shaped like the BI views: what each kind shows (sections, key
figures, the nightly-runs columns), that every plot is a real image, and the promotion gain named by its metric."""

import base64
import datetime as dt
import io
import re

import pandas as pd
import pytest

from pipeline.monitoring.formatting import figure
from pipeline.monitoring.report.data import ReportData
from pipeline.monitoring.report.kinds import run_columns
from pipeline.monitoring.report.plots import gain_label, heatmap_order, plot_drift_heatmap, plot_performance
from pipeline.monitoring.report.plots_kinds import plot_class_shares, plot_prediction_quantiles
from pipeline.monitoring.report.render import render_html

DATES = [dt.date(2013, 7, 1) + dt.timedelta(days=i) for i in range(3)]
COMMON = {
    "score_date": DATES,
    "rows_scored": [900, 950, 870],
    "model_version": ["v1"] * 3,
    "validation_status": ["passed"] * 3,
    "validation_warnings": [0, 1, 0],
    "drifted_metrics": [0, 2, 0],
    "run_seconds": [3.2, 3.4, 3.1],
}
DAILY = {
    "binary": {**COMMON, "mean_score": [0.05, 0.06, 0.04], "flagged_share": [0.06, 0.08, 0.05]},
    "multiclass": {
        **COMMON,
        "mean_score": [0.71, 0.69, 0.73],
        "top_class": ["on_time"] * 3,
        "top_class_share": [0.8, 0.75, 0.82],
    },
    "regression": {
        **COMMON,
        "mean_score": [12.5, 14.0, 11.0],
        "mean_prediction": [12.5, 14.0, 11.0],
        "prediction_p10": [-4.0, -3.5, -5.0],
        "prediction_p90": [40.0, 45.0, 38.0],
    },
}
DISTRIBUTION = {
    "binary": pd.DataFrame(
        {0: [500, 520, 480], 1: [200, 210, 190], 3: [100, 120, 100], 5: [100, 100, 100]}, index=DATES
    ),
    "multiclass": pd.DataFrame(
        {"on_time": [720, 710, 713], "late": [150, 200, 130], "disrupted": [30, 40, 27]}, index=DATES
    ),
    "regression": pd.DataFrame(
        {"p05": [-8.0, -7, -9], "p25": [0.0, 1, -1], "p50": [8.0, 9, 7], "p75": [18.0, 20, 16], "p95": [60.0, 70, 55]},
        index=DATES,
    ),
}


def performance(kind):
    rows = []
    for role, version in (("champion", "v1"), ("shadow", "v2")):
        for i, day in enumerate(DATES[:2]):
            row = {"score_date": day, "model_version": version, "role": role, "kind": kind}
            row["status"] = "insufficient" if i == 0 else "ok"
            if kind == "binary":
                row |= {"average_precision": 0.5 - i / 10, "roc_auc": 0.9, "holdout_average_precision": 0.52}
                row |= {"holdout_roc_auc": 0.91}
            elif kind == "multiclass":
                row |= {"macro_f1": 0.55 + i / 20, "log_loss": 0.7, "holdout_macro_f1": 0.6, "holdout_log_loss": 0.65}
            else:
                row |= {"mae": 18.0 + i, "interval_coverage": 0.78, "holdout_mae": 17.0}
                row |= {"holdout_interval_coverage": 0.8}
            rows.append(row)
    return pd.DataFrame(rows)


PROMOTIONS = pd.DataFrame(
    [
        {
            "decided_at": pd.Timestamp("2013-07-02 10:00", tz="UTC"),
            "cutoff_date": dt.date(2013, 7, 2),
            "actor": "schedule",
            "promoted": True,
            "challenger_version": "v2",
            "improvement": 0.5,
            "metric": "neg_mae",
        }
    ]
)
DRIFT = pd.DataFrame(
    [
        {"score_date": d, "feature": f, "metric": "psi", "value": v, "status": "ok"}
        for d in DATES
        for f, v in (("score", 0.05), ("distance", 0.3))
    ]
)


def report(kind, **changes):
    fields = dict(
        use_case=f"a_{kind}_case",
        description="synthetic",
        date_from=DATES[0],
        date_to=DATES[-1],
        daily=pd.DataFrame(DAILY[kind]),
        distribution=DISTRIBUTION[kind],
        drift=DRIFT,
        performance=performance(kind),
        promotions=PROMOTIONS,
        alerts=pd.DataFrame(columns=["raised_at", "kind", "score_date", "message"]),
        alerts_total=0,
        champion={"version": "v1", "classes": ["disrupted", "late", "on_time"] if kind == "multiclass" else None},
        kind=kind,
        interval=0.8 if kind == "regression" else None,
    )
    return ReportData(**{**fields, **changes})


def images(document):
    return [base64.b64decode(b) for b in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', document)]


def drawn(png):
    from PIL import Image

    image = Image.open(io.BytesIO(png))
    image.load()
    return image.format == "PNG" and len(image.convert("RGB").getcolors(maxcolors=1 << 20) or []) > 20


def titles(document):
    return re.findall(r"<h2>([^<]+)</h2>", document)


def kpis(document):
    return re.findall(r"<b>([^<]*)</b><span>([^<]+)</span>", document)


def test_the_binary_report_keeps_its_sections_key_figures_and_run_columns():
    document = render_html(report("binary"), 0.1, 0.25)
    assert titles(document) == [
        "Daily volume and flagged share",
        "Score distribution per date",
        "Drift heatmap",
        "Model performance over time",
        "Promotion timeline",
        "Nightly runs",
    ]
    assert [label for _, label in kpis(document)] == [
        "score dates",
        "rows scored",
        "flagged share (mean)",
        "champion",
        "dates with drift",
        "latest labelled AP",
        "alerts in period",
    ]
    assert ("6.3%", "flagged share (mean)") in kpis(document) and ("0.40", "latest labelled AP") in kpis(document)
    header = re.search(r"<h2>Nightly runs</h2>\s*<table><thead><tr>(.*?)</tr>", document).group(1)
    assert re.findall(r"<th>([^<]+)</th>", header) == list(run_columns("binary"))
    assert run_columns("binary")[:4] == ("score_date", "rows_scored", "flagged_share", "mean_score")
    assert all(drawn(png) for png in images(document)) and len(images(document)) == 5


def test_the_regression_report_shows_predicted_values_mae_and_coverage():
    document = render_html(report("regression"), None, 0.25)
    assert titles(document)[:2] == ["Daily volume and mean prediction", "Prediction distribution per date"]
    assert ("12.50", "mean prediction") in kpis(document) and ("19.00", "latest labelled MAE") in kpis(document)
    assert "published 80% interval" in document and "flagged" not in document
    header = re.search(r"<h2>Nightly runs</h2>\s*<table><thead><tr>(.*?)</tr>", document).group(1)
    assert "mean_prediction" in header and "prediction_p90" in header and "flagged_share" not in header
    assert "<td>14.00</td>" in document  # mean_prediction of the second night
    assert all(drawn(png) for png in images(document)) and len(images(document)) == 5


def test_a_regression_without_an_interval_says_there_is_no_coverage():
    data = report("regression", interval=None)
    data.performance["interval_coverage"] = None
    document = render_html(data, None, 0.25)
    assert "no interval is published, so no coverage" in document and len(images(document)) == 5


def test_the_multiclass_report_shows_class_shares_macro_f1_and_the_most_predicted_class():
    document = render_html(report("multiclass"), None, 0.25)
    assert titles(document)[:2] == ["Daily volume and mean confidence", "Predicted class shares per date"]
    assert ("on_time (79%)", "most predicted class") in kpis(document)
    assert ("0.60", "latest labelled macro F1") in kpis(document)
    assert "Macro F1: the mean of the classes" in document and "flagged" not in document
    assert "<td>on_time</td>" in document and "<td>75.0%</td>" in document
    assert all(drawn(png) for png in images(document)) and len(images(document)) == 5


def test_no_labels_yet_shows_n_a_for_every_kind():
    for kind in ("binary", "multiclass", "regression"):
        empty = performance(kind).iloc[0:0]
        document = render_html(report(kind, performance=empty), 0.1 if kind == "binary" else None, 0.25)
        assert any(value == "n/a" and label.startswith("latest labelled") for value, label in kpis(document))


def test_the_promotion_gain_is_named_by_the_rules_metric():
    assert gain_label("average_precision", 0.0123) == "AP +0.012"  # the binary report as before
    assert gain_label("neg_mae", 0.5) == "-MAE +0.500"
    assert gain_label("macro_f1", -0.02) == "macro F1 -0.020"
    assert gain_label("some_new_metric", 1.0) == "some_new_metric +1.000"
    assert gain_label(None, 0.1) == "gain +0.100"


def test_kind_plots_are_real_images_and_say_so_when_empty():
    assert drawn(plot_prediction_quantiles(DISTRIBUTION["regression"]))
    assert drawn(plot_class_shares(DISTRIBUTION["multiclass"], ["disrupted", "late", "on_time", "diverted"]))
    assert drawn(plot_class_shares(DISTRIBUTION["multiclass"]))
    for png in (plot_prediction_quantiles(DISTRIBUTION["regression"].iloc[0:0]), plot_performance(pd.DataFrame())):
        assert png.startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("value", "spec", "shown"),
    [(0.1234, ".2f", "0.12"), (None, ".2f", "n/a"), (float("nan"), ".3f", "n/a"), (pd.NA, ".1%", "n/a"), (3, "d", "3")],
)
def test_an_undefined_figure_is_written_n_a(value, spec, shown):
    assert figure(value, spec) == shown


def test_the_drift_heatmap_puts_the_models_output_first_then_the_worst_inputs():
    worst = pd.Series({"distance": 0.4, "predicted_class": 0.1, "visib": 2.0, "score": 0.05})
    assert heatmap_order(worst) == ["score", "predicted_class", "visib", "distance"]
    assert heatmap_order(pd.Series({"a": 0.1, "b": 0.3})) == ["b", "a"]
    shares = pd.DataFrame(
        [
            {"score_date": d, "feature": "predicted_class", "metric": "psi", "value": 0.4, "status": "drift"}
            for d in DATES
        ]
    )
    assert drawn(plot_drift_heatmap(pd.concat([DRIFT, shares]), 0.25))
