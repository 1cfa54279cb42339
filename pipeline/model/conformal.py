"""Prediction intervals for any regressor: split conformal on the newest part of the training window.

The base estimator is fitted on the older rows, its absolute errors on the newest ``calibration_share`` of the
rows (the rows arrive in date order) give the half-width that covers ``coverage`` of them (the finite-sample
quantile), and the estimator is then refitted on every row. The refit model is at least as good as the one the
errors were measured on, so the interval is, if anything, conservative; the holdout metrics report the coverage
actually reached (``interval_coverage``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone


class ConformalRegressor(RegressorMixin, BaseEstimator):
    """``estimator`` with a symmetric prediction interval of the given ``coverage``."""

    def __init__(self, estimator: Any = None, coverage: float = 0.8, calibration_share: float = 0.2) -> None:
        self.estimator = estimator
        self.coverage = coverage
        self.calibration_share = calibration_share

    def fit(self, X: Any, y: Any) -> ConformalRegressor:
        y = np.asarray(y, dtype="float64")
        n = len(y)
        n_cal = max(int(round(n * self.calibration_share)), 1)
        if n - n_cal < 2:
            raise ValueError(f"too few rows ({n}) to keep {n_cal} apart for the interval's calibration")
        rows = getattr(X, "iloc", None)
        fit_x, cal_x = (rows[: n - n_cal], rows[n - n_cal :]) if rows is not None else (X[: n - n_cal], X[n - n_cal :])
        first = clone(self.estimator).fit(fit_x, y[: n - n_cal])
        errors = np.sort(np.abs(np.asarray(first.predict(cal_x), dtype="float64") - y[n - n_cal :]))
        rank = min(math.ceil((n_cal + 1) * self.coverage), n_cal)
        self.half_width_ = float(errors[rank - 1])
        self.calibration_rows_ = n_cal
        self.estimator_ = clone(self.estimator).fit(X, y)
        if hasattr(self.estimator_, "feature_names_in_"):
            self.feature_names_in_ = self.estimator_.feature_names_in_
        return self

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(self.estimator_.predict(X), dtype="float64")

    def predict_interval(self, X: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(prediction, lower, upper) per row."""
        value = self.predict(X)
        return value, value - self.half_width_, value + self.half_width_
