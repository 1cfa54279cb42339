import pytest

from pipeline.db.engine import DatabaseConfigError, normalise_url, redact


def test_postgres_urls_get_the_psycopg2_driver():
    assert normalise_url("postgresql://u:p@h:5432/d").drivername == "postgresql+psycopg2"
    assert normalise_url("postgres://u@h/d").drivername == "postgresql+psycopg2"


@pytest.mark.parametrize("raw", ["mysql://u:s3cret@h/d", "not a url at all s3cret"])
def test_bad_database_urls_are_rejected_without_echoing_the_password(raw):
    with pytest.raises(DatabaseConfigError) as info:
        normalise_url(raw)
    assert "s3cret" not in str(info.value)
    assert "BATCHSCORE_DATABASE_URL" in str(info.value)


def test_redact_masks_a_password_and_leaves_an_empty_one_out():
    assert "s3cret" not in redact("postgresql://u:s3cret@h/d")
    assert redact("postgresql://u:@/d?host=/tmp/x") == "postgresql://u@/d?host=%2Ftmp%2Fx"


def test_the_airflow_connection_from_the_environment_is_used_when_no_url_is_set(monkeypatch):
    from pipeline.config.settings import load_settings

    monkeypatch.delenv("BATCHSCORE_DATABASE_URL", raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_BATCHSCORE_DB", "postgres://writer:pw@db:5432/batchscore")
    assert normalise_url(load_settings().database_url).render_as_string(hide_password=False) == (
        "postgresql+psycopg2://writer:pw@db:5432/batchscore"
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_BATCHSCORE_DB",
        '{"conn_type": "postgres", "host": "db", "port": 5432, '
        '"login": "writer", "password": "p@ss/w:rd", "schema": "batchscore"}',
    )
    url = normalise_url(load_settings().database_url)
    assert (url.username, url.password, url.host, url.port, url.database) == (
        "writer",
        "p@ss/w:rd",
        "db",
        5432,
        "batchscore",
    )
    monkeypatch.setenv("BATCHSCORE_DATABASE_URL", "postgresql://other@h/d")
    assert load_settings().database_url == "postgresql://other@h/d"  # the explicit URL wins


@pytest.mark.parametrize("raw", ['{"conn_type": "mysql", "password": "s3cret"}', '{"password": "s3cret"'])
def test_an_unusable_airflow_connection_is_rejected_without_echoing_it(monkeypatch, raw):
    from pipeline.config.settings import load_settings

    monkeypatch.delenv("BATCHSCORE_DATABASE_URL", raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_BATCHSCORE_DB", raw)
    with pytest.raises(ValueError, match="AIRFLOW_CONN_BATCHSCORE_DB") as info:
        load_settings()
    assert "s3cret" not in str(info.value)


def test_publish_lock_wait_defaults_to_ten_minutes_and_refuses_a_non_positive_value(monkeypatch):
    from pipeline.config.settings import load_settings

    monkeypatch.delenv("BATCHSCORE_PUBLISH_LOCK_WAIT", raising=False)
    assert load_settings().publish_lock_wait_s == 600
    monkeypatch.setenv("BATCHSCORE_PUBLISH_LOCK_WAIT", "30")
    assert load_settings().publish_lock_wait_s == 30
    for bad in ("0", "soon", "-5"):
        monkeypatch.setenv("BATCHSCORE_PUBLISH_LOCK_WAIT", bad)
        with pytest.raises(ValueError, match=f"BATCHSCORE_PUBLISH_LOCK_WAIT must be a positive integer, got .*{bad}"):
            load_settings()
