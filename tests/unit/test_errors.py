"""Whether retrying can help: our errors say it themselves, database errors by their SQLSTATE class."""

import pytest
import sqlalchemy as sa

from pipeline.errors import BatchscoreError, ConfigError, DataRejected, TransientError, is_retryable


class _DriverError(Exception):
    def __init__(self, pgcode):
        super().__init__("driver error")
        self.pgcode = pgcode


def _wrapped(pgcode):
    return sa.exc.ProgrammingError("select", None, _DriverError(pgcode))


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (ConfigError("bad key"), False),
        (DataRejected("bad rows"), False),
        (TransientError("busy"), True),
        (BatchscoreError("usually permanent", retryable=True), True),
        (_wrapped("42601"), False),  # syntax error in our SQL
        (_wrapped("42703"), False),  # undefined column
        (_wrapped("22003"), False),  # numeric value out of range
        (_wrapped("40P01"), True),  # deadlock detected
        (_wrapped("55P03"), True),  # lock not available
        (_wrapped("57P01"), True),  # administrator shutdown
        (_DriverError("08006"), True),  # a bare driver error: connection failure
        (_wrapped("23505"), None),  # unique violation: a race may clear it, the task's own retries decide
        (_wrapped("42P01"), None),  # undefined table: may be a concurrent drop
        (_wrapped("42P07"), None),  # duplicate table: two sessions creating it at once
        (_wrapped(None), None),  # no SQLSTATE: the server went away mid-statement
        (OSError("disk full"), None),
    ],
)
def test_retryable_is_known_for_our_errors_and_database_errors_and_unknown_otherwise(exc, expected):
    assert is_retryable(exc) is expected


def test_an_instance_can_override_its_class_default_without_touching_the_class():
    assert BatchscoreError("x", retryable=True).retryable is True
    assert BatchscoreError("y").retryable is False
