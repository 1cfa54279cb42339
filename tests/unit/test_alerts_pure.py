"""Alert channels: built from Airflow connections, secrets kept out of reprs and logs, one failing channel
does not silence the others; performance alerts worded per task kind."""

import logging
from types import SimpleNamespace

import pytest

from pipeline.config.loading import load_usecase, with_overrides
from pipeline.monitoring.alerts import Alert, performance_alerts
from pipeline.monitoring.channels import EmailChannel, WebhookChannel, channel_from_connection, deliver

ALERT = Alert("flight_cancellation", "drift", "2013-07-01/v1/temp/psi", "temp drifted", "2013-07-01", "v1")


def conn(**kw):
    base = dict(
        conn_id="batchscore_alerts",
        conn_type="http",
        host="hooks.example.com",
        port=None,
        schema=None,
        login=None,
        password=None,
        extra_dejson={},
    )
    return SimpleNamespace(**{**base, **kw})


def test_an_http_connection_becomes_a_webhook_with_the_token_outside_the_url():
    channel = channel_from_connection(
        conn(conn_type="https", password="s3cret-token", port=8443, extra_dejson={"endpoint": "/alerts"})
    )
    assert isinstance(channel, WebhookChannel)
    assert channel.url == "https://hooks.example.com:8443/alerts"
    assert "s3cret-token" not in repr(channel) and "s3cret-token" not in channel.url


def test_an_smtp_connection_becomes_an_email_channel_and_needs_recipients():
    channel = channel_from_connection(
        conn(
            conn_type="smtp",
            host="mail.example.com",
            port=25,
            login="bot",
            password="mail-pw",
            extra_dejson={"to": "ops@example.com"},
        )
    )
    assert isinstance(channel, EmailChannel) and channel.recipients == ["ops@example.com"]
    assert "mail-pw" not in repr(channel)
    with pytest.raises(ValueError, match="needs recipients"):
        channel_from_connection(conn(conn_type="smtp", host="mail.example.com"))


def test_an_unsupported_connection_type_is_named_in_the_error():
    with pytest.raises(ValueError, match="type 'slackwebhook' is not an alert channel"):
        channel_from_connection(conn(conn_type="slackwebhook"))


class Broken:
    name = "broken"

    def send(self, alerts):
        raise ConnectionRefusedError("http://user:pw@internal:9/ refused")


class Recording:
    name = "recording"

    def __init__(self):
        self.sent = []

    def send(self, alerts):
        self.sent += alerts


def test_a_failing_channel_is_reported_without_its_message_and_the_others_still_send(caplog):
    recording = Recording()
    with caplog.at_level(logging.WARNING, logger="batchscore.alerts"):
        outcome = deliver([ALERT], [Broken(), recording])
    assert outcome == {"log": "sent", "broken": "failed: ConnectionRefusedError", "recording": "sent"}
    assert recording.sent == [ALERT]
    assert "ALERT [drift] temp drifted" in caplog.text and "pw@" not in caplog.text


def test_nothing_is_sent_when_there_is_nothing_new():
    recording = Recording()
    assert deliver([], [recording]) == {} and recording.sent == []


def test_an_alert_survives_the_round_trip_through_xcom():
    assert Alert.from_dict(ALERT.as_dict()) == ALERT


# --- performance alerts per task kind ----------------------------------------------------------------------------


def _record(kind, status="degraded", role="champion", **extra):
    base = {
        "score_date": "2013-07-02",
        "model_version": "v2",
        "role": role,
        "status": status,
        "kind": kind,
        "label_count": 912,
        "average_precision": None,
        "roc_auc": None,
    }
    return {**base, **extra}


def test_a_binary_alert_names_average_precision_roc_auc_and_the_floors():
    uc = load_usecase("flight_cancellation")
    [alert] = performance_alerts(uc, [_record("binary", average_precision=0.21, roc_auc=0.64)])
    assert alert.message == (
        "flight_cancellation 2013-07-02: model v2 degraded on 912 labels (average precision 0.210, ROC AUC 0.640, "
        f"floors: {uc.monitoring.min_average_precision_ratio:g} x holdout AP, AUC {uc.monitoring.min_roc_auc:g})"
    )
    assert alert.key == "2013-07-02/v2" and alert.details["average_precision"] == 0.21
    [undefined] = performance_alerts(uc, [_record("binary", roc_auc=0.6)])
    assert "average precision n/a, ROC AUC 0.600" in undefined.message


def test_a_regression_alert_names_mae_and_coverage_next_to_the_holdout_and_the_breached_floor():
    uc = with_overrides(
        load_usecase("departure_disruption"),
        {"target.kind": "regression", "target.threshold": None, "name": "arrival_minutes"},
    )
    record = _record(
        "regression",
        metrics={"mae": 31.25, "rmse": 44.0, "bias": 12.5, "interval_coverage": 0.61, "rows": 912},
        holdout={"mae": 18.0, "rmse": 27.0, "bias": -0.4, "interval_coverage": 0.8},
        reasons=["MAE 31.250 > 1.5 x holdout 18.000"],
    )
    [alert] = performance_alerts(uc, [record])
    assert alert.message == (
        "arrival_minutes 2013-07-02: model v2 degraded on 912 labels: MAE 31.250 (holdout 18.000), RMSE 44.000 "
        "(holdout 27.000), bias +12.500 (holdout -0.400), interval coverage 0.61 (holdout 0.80); breached: "
        "MAE 31.250 > 1.5 x holdout 18.000"
    )
    assert "average precision" not in alert.message and "AUC" not in alert.message
    assert alert.details == {
        "kind": "regression",
        "label_count": 912,
        "mae": 31.25,
        "rmse": 44.0,
        "bias": 12.5,
        "interval_coverage": 0.61,
        "reasons": ["MAE 31.250 > 1.5 x holdout 18.000"],
    }


def test_a_multiclass_alert_names_macro_f1_and_log_loss_and_a_missing_holdout_figure_as_n_a():
    uc = with_overrides(load_usecase("departure_disruption"), {"target.kind": "multiclass", "target.threshold": None})
    record = _record(
        "multiclass",
        metrics={"macro_f1": 0.38, "log_loss": 1.3, "accuracy": 0.55, "rows": 912},
        holdout={"macro_f1": 0.57},
        reasons=["macro F1 0.380 < 0.75 x holdout 0.570"],
    )
    [alert] = performance_alerts(uc, [record])
    assert alert.message == (
        "departure_disruption 2013-07-02: model v2 degraded on 912 labels: macro F1 0.380 (holdout 0.570), "
        "log loss 1.3000 (holdout n/a), accuracy 0.550 (holdout n/a); breached: macro F1 0.380 < 0.75 x holdout 0.570"
    )


def test_only_degraded_champion_dates_alert_whatever_the_kind():
    uc = with_overrides(load_usecase("departure_disruption"), {"target.kind": "regression", "target.threshold": None})
    records = [
        _record("regression", status="ok", metrics={"mae": 1.0}),
        _record("regression", status="insufficient", metrics={"mae": 99.0}),
        _record("regression", role="shadow", metrics={"mae": 99.0}, reasons=["MAE"]),
    ]
    assert performance_alerts(uc, records) == []
