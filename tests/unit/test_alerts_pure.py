"""Alert channels: built from Airflow connections, secrets kept out of reprs and logs, one failing channel
does not silence the others."""

import logging
from types import SimpleNamespace

import pytest

from pipeline.monitoring.alerts import Alert
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
