"""How monitoring writes a figure that may be undefined: formatted, or ``n/a`` (None, NaN, NA)."""

from __future__ import annotations

from typing import Any

import pandas as pd


def figure(value: Any, spec: str = ".3f") -> str:
    """``value`` formatted with ``spec``, or ``n/a`` when it is undefined (None, NaN or pandas' NA)."""
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return "n/a"
    return format(value, spec)
