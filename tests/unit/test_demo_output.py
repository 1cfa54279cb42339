"""The demo's night line says what a night published in the terms of its use case's kind."""

import pytest

from pipeline.config.loading import load_usecase
from pipeline.demo.run import night_headline


@pytest.mark.parametrize(
    ("name", "info", "shown"),
    [
        ("flight_cancellation", {"flagged_share": 0.0512, "mean_score": 0.04}, "5.1%"),
        ("arrival_delay", {"flagged_share": None, "mean_score": 30.517}, "30.5"),
        ("departure_outcome", {"flagged_share": None, "mean_score": 0.6123}, "0.612"),
        ("arrival_delay", {"flagged_share": None, "mean_score": None}, "-"),
    ],
)
def test_a_night_shows_the_flagged_share_of_a_binary_use_case_and_the_mean_prediction_of_the_others(name, info, shown):
    assert night_headline(load_usecase(name), info) == shown
