"""The divergence rules: cross-entropy (non-finite, or the last tenth above 1.5 ln K) and least
squares (non-finite, or above 100 x the starting loss), at and around every threshold."""
import math

import numpy as np
import pytest

from helpers import cross_entropy_divergence, least_squares_divergence

BAR = 1.5 * math.log(10)           # 3.45: worse than a uniform guess over 10 classes by half


def test_no_losses_no_divergence():
    assert cross_entropy_divergence([]) is None


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_the_first_non_finite_loss_names_the_step(bad):
    losses = [2.3, 2.0, 1.5, bad, 1.0, np.nan]
    assert cross_entropy_divergence(losses) == {"step": 3,
                                                "reason": f"the loss became {float(bad)}"}


def test_a_non_finite_loss_counts_even_when_the_rest_learned():
    losses = [0.1] * 99 + [np.inf]
    assert cross_entropy_divergence(losses)["step"] == 99


def test_a_tail_above_the_bar_is_diverged_at_its_first_step_above():
    losses = [1.0] * 18 + [10.0, 10.0]            # 20 steps: the last tenth is steps 18, 19
    assert cross_entropy_divergence(losses) == {
        "step": 18,
        "reason": "the loss over the last tenth of the run averaged 10.00, above "
                  "1.5 ln 10 = 3.45 (worse than guessing) and above its start (1.00)"}
    losses = [1.0] * 18 + [3.0, 8.0]              # mean 5.5: the first step above is 19
    assert cross_entropy_divergence(losses)["step"] == 19


def test_the_tail_mean_decides_not_a_single_step():
    assert cross_entropy_divergence([1.0] * 18 + [BAR, BAR]) is None      # at the bar: not above
    assert cross_entropy_divergence([1.0] * 18 + [6.0, 0.5]) is None      # mean 3.25
    assert cross_entropy_divergence([1.0] * 18 + [BAR + 1e-9] * 2)["step"] == 18


def test_an_early_blow_up_that_recovers_is_not_diverged():
    assert cross_entropy_divergence([50.0] * 90 + [2.0] * 10) is None


def test_a_slow_learner_near_ln_10_is_not_diverged():
    assert cross_entropy_divergence([math.log(10)] * 200) is None


@pytest.mark.parametrize("n, tail", [(1, 1), (5, 1), (10, 1), (20, 2), (100, 10)])
def test_the_tail_is_the_last_tenth_and_at_least_one_step(n, tail):
    losses = [1.0] * (n - tail) + [10.0] * tail
    if n == tail:                                  # a one-step run cannot be worse than its start
        assert cross_entropy_divergence(losses) is None
        return
    assert cross_entropy_divergence(losses)["step"] == n - tail
    losses[n - tail] = 1.0                         # one more good step in the tail: mean below
    if tail == 1:
        assert cross_entropy_divergence(losses) is None
    else:
        assert cross_entropy_divergence(losses)["step"] == n - tail + 1


def test_the_bar_follows_the_number_of_classes():
    losses = [0.5] + [1.2] * 9                     # 1.5 ln 2 = 1.04 < 1.2 < 1.5 ln 10 = 3.45
    assert cross_entropy_divergence(losses, num_classes=10) is None
    assert cross_entropy_divergence(losses, num_classes=2) == {
        "step": 1,                                   # above 1.04 from step 1 on
        "reason": "the loss over the last tenth of the run averaged 1.20, above "
                  "1.5 ln 2 = 1.04 (worse than guessing) and above its start (0.50)"}


def test_a_run_that_starts_above_the_bar_diverges_only_by_getting_worse():
    """A network initialised with large weights starts far above 1.5 ln K and may still be
    learning (lesson 3's init-scale sweep): diverged only if it ends above where it began."""
    assert cross_entropy_divergence([20.0] + [12.0] * 9 + [5.0] * 10) is None
    assert cross_entropy_divergence([20.0] * 18 + [25.0, 25.0])["step"] == 18


def test_least_squares_rules():
    assert least_squares_divergence(5.0, start_loss=1.0) is None
    assert least_squares_divergence(100.0, start_loss=1.0) is None            # 100x: not above
    assert least_squares_divergence(100.001, start_loss=1.0) == \
        "the loss grew above 100 x its start"
    assert least_squares_divergence(np.inf, start_loss=1.0) == "the loss became inf"
    assert least_squares_divergence(np.nan, start_loss=1.0) == "the loss became nan"
    assert least_squares_divergence(1e-3, start_loss=2e-5) is None            # 50x a tiny start


def test_the_step_is_where_the_loss_left_the_bar_for_good():
    # above the bar from step 3 on, in a run of 100 steps: diverged at 3, not at the tail's start
    losses = [2.0, 2.0, 2.0] + [50.0] * 97
    assert cross_entropy_divergence(losses)["step"] == 3
    # one step below the bar does not reset it: the stretches of 10 steps around it still
    # average far above the bar
    losses[40] = 1.0
    assert cross_entropy_divergence(losses)["step"] == 3
    # a stretch of 20 steps below it does: the run left for good at step 60
    losses[40:60] = [1.0] * 20
    assert cross_entropy_divergence(losses)["step"] == 60
