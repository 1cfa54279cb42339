"""How monitoring writes a figure that may be undefined: formatted, or ``n/a`` (None, NaN, NA).

Imports nothing heavy: the alert lines use it, and they are imported where DAG files are parsed.
"""

from __future__ import annotations

import math
from typing import Any


def undefined(value: Any) -> bool:
    """Whether ``value`` is a missing figure: None, NaN, or pandas' NA (recognised without importing pandas)."""
    if value is None:
        return True
    try:
        return math.isnan(value)
    except TypeError:
        return type(value).__name__ == "NAType"


def figure(value: Any, spec: str = ".3f") -> str:
    """``value`` formatted with ``spec``, or ``n/a`` when it is undefined (None, NaN or pandas' NA)."""
    return "n/a" if undefined(value) else format(value, spec)
