import pytest

from pipeline.db import DatabaseConfigError, normalise_url, redact


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
