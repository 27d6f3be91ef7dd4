"""When has a training run diverged? The course's rules, one per kind of loss, in one place.

Every part of the course (`train`, the sweeps, the panels, the lesson tables) asks these two
functions, so a run called "diverged" in one lesson is called so in every other.

Cross-entropy over K classes (every MNIST network): a uniform guess scores ln K (2.30 for 10
classes), and a network that has not learned yet sits near it. A run has diverged when its
loss stops being finite, or when its mean loss over the last tenth of the run is above
1.5 ln K, worse than guessing by half (which a network reaches only with large, confidently
wrong outputs: its weights blew up), and above its loss at the start. The second condition
spares a network initialised with large weights: it starts far above ln K and may still be
learning. A run that merely has not learned yet is not "diverged" either.

Least squares (lesson 1's two-parameter bowl): the loss has no ceiling like ln K, so the rule
is growth: the loss stops being finite, or exceeds 100 times its starting value.
"""
import math

import numpy as np

CROSS_ENTROPY_FACTOR = 1.5     # x ln K: worse than a uniform guess by half
TAIL = 0.1                     # the last tenth of the run
GROWTH_FACTOR = 100.0          # least squares: x the starting loss


def cross_entropy_divergence(losses, num_classes=10):
    """None if the run did not diverge, else {"step", "reason"}.

    losses: the training loss of each step (a sequence; non-finite values allowed).
    step: the first step whose loss was non-finite, else where the run left the bar for good:
    from there on every stretch as long as the last tenth averaged above the bar (the rule's
    own test, applied at every step; one lucky batch does not reset it), at its first step
    above the bar.
    """
    losses = np.asarray(losses, dtype=float)
    if losses.size == 0:
        return None
    bad = np.flatnonzero(~np.isfinite(losses))
    if bad.size:
        return {"step": int(bad[0]), "reason": f"the loss became {losses[bad[0]]}"}
    guess = CROSS_ENTROPY_FACTOR * math.log(num_classes)
    bar = max(guess, losses[0])
    tail_start = len(losses) - max(1, round(TAIL * len(losses)))
    tail = losses[tail_start:]
    if tail.mean() <= bar:
        return None
    width = len(tail)
    sums = np.cumsum(np.concatenate([[0.0], losses]))
    window_means = (sums[width:] - sums[:-width]) / width     # the stretch starting at each step
    low = np.flatnonzero(window_means <= bar)
    start = int(low[-1]) + 1 if low.size else 0
    step = start + int(np.flatnonzero(losses[start:] > bar)[0])
    return {"step": step, "reason": f"the loss over the last tenth of the run averaged "
                                    f"{tail.mean():.2f}, above 1.5 ln {num_classes} = {guess:.2f} "
                                    f"(worse than guessing) and above its start "
                                    f"({losses[0]:.2f})"}


def least_squares_divergence(loss, start_loss):
    """None, or the reason why a least-squares loss has diverged (checked after each step)."""
    if not np.isfinite(loss):
        return f"the loss became {loss}"
    if loss > GROWTH_FACTOR * start_loss:
        return f"the loss grew above {GROWTH_FACTOR:g} x its start"
    return None
