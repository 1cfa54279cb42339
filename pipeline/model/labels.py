"""Labels as each task kind needs them, checked with one clear line: boolean (or 0/1) for binary, text or integer
classes for multiclass (compared as strings), finite numbers for regression."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pipeline.errors import DataRejected


class LabelError(DataRejected):
    """The label query returns values the use case's kind cannot learn from."""


def _sample(values: pd.Series) -> str:
    return ", ".join(repr(v) for v in values.dropna().unique()[:5])


def coerce_labels(kind: str, labels: Any, where: str) -> np.ndarray:
    """The labels of ``kind`` as the model and the metrics take them; :class:`LabelError` naming ``where``
    (the use case and its labels query) and the values found otherwise."""
    values = pd.Series(labels)
    if values.isna().any():
        raise LabelError(f"{where}: {int(values.isna().sum())} labels are null; the labels query must not return them")
    if kind == "binary":
        if pd.api.types.is_bool_dtype(values):
            return values.to_numpy(dtype=bool)
        if pd.api.types.is_numeric_dtype(values) and set(values.unique()) <= {0, 1}:
            return values.to_numpy(dtype=float).astype(bool)
        raise LabelError(
            f"{where}: a binary use case needs a boolean (or 0/1) label; found {values.dtype} values "
            f"such as {_sample(values)}"
        )
    if kind == "multiclass":
        if pd.api.types.is_float_dtype(values) and not np.all(np.mod(values.to_numpy(), 1) == 0):
            raise LabelError(
                f"{where}: a multiclass use case needs text or integer classes; found fractional numbers such as "
                f'{_sample(values)} (a numeric target is kind = "regression")'
            )
        if pd.api.types.is_bool_dtype(values):
            raise LabelError(f'{where}: a boolean label makes a binary use case: set [target] kind = "binary"')
        if pd.api.types.is_numeric_dtype(values):
            return values.astype("int64").astype(str).to_numpy(dtype=object)
        return values.astype(str).to_numpy(dtype=object)
    if kind == "regression":
        if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
            raise LabelError(
                f"{where}: a regression use case needs a numeric label; found {values.dtype} values such as "
                f"{_sample(values)}"
            )
        y = values.to_numpy(dtype="float64")
        if not np.all(np.isfinite(y)):
            raise LabelError(f"{where}: the label has infinite values")
        return y
    raise LabelError(f"{where}: unknown task kind {kind!r}")
