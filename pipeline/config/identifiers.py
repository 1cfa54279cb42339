"""The one rule for names that end up in SQL text: table, schema, column, view and use-case names.

Values always travel as bind parameters; only identifiers are ever substituted into SQL, and only names that
match this rule (1-63 lowercase letters, digits or ``_``, not starting with a digit) can be quoted safely.
"""

from __future__ import annotations

import re

from pipeline.errors import ConfigError

IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")  # always used with fullmatch (``$`` would allow a final newline)


class SqlIdentifierError(ConfigError):
    """A name from configuration is not a plain lowercase SQL identifier."""


def check_identifier(name: object, *, what: str = "identifier") -> str:
    """``name`` when it is a plain lowercase identifier; :class:`SqlIdentifierError` otherwise."""
    if not isinstance(name, str) or not IDENTIFIER.fullmatch(name):
        raise SqlIdentifierError(
            f"invalid {what} {name!r}: use 1-63 characters of lowercase letters, digits and '_', "
            "starting with a letter or '_'"
        )
    return name
