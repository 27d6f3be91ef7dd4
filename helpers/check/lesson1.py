"""Checks for the lesson 1 exercises: the mini-batch gradient-descent loop and the heavy-ball
momentum update of `helpers.SGD`.

The loop is checked through what it asks of `grad`: every call is one step, so the recorded
batches show the epochs (every example once, in a fresh order) and the thetas show the updates.
"""
import math

import numpy as np

from ..data import make_linear_regression
from ..optim import SGD
from .core import (
    Case,
    CheckFailed,
    Mistake,
    _is_number,
    as_outputs,
    call,
    passed,
    run_check,
    same,
)

THETA0 = (-1.0, 3.0)          # where lesson 1's paths start: (w, b)


class _RecordedGrad:
    """grad(theta, idx) of the line fit y = w x + b (lesson 1) on n points, recording every
    call: the theta (2,) it was given and the batch idx (an int array)."""

    def __init__(self, n, seed):
        X, self.y = make_linear_regression(n=n, seed=seed)
        self.x, self.n, self.calls = X[:, 0], n, []

    def value(self, theta, idx):
        """The average gradient of the examples idx at theta: shape (2,)."""
        residual = theta[0] * self.x[idx] + theta[1] - self.y[idx]
        return np.array([np.mean(residual * self.x[idx]), np.mean(residual)])

    def __call__(self, theta, idx):
        idx = np.arange(self.n)[idx] if isinstance(idx, slice) else np.asarray(idx).ravel()
        if not np.issubdtype(idx.dtype, np.integer) or idx.size == 0 \
                or idx.min() < 0 or idx.max() >= self.n:
            raise CheckFailed(f"minibatch_gd: not yet - grad(theta, idx) needs idx: a "
                              f"non-empty array of example numbers from 0 to n - 1 = "
                              f"{self.n - 1}, got {idx!r}")
        self.calls.append((np.array(theta, dtype=float), idx.copy()))
        return self.value(np.asarray(theta, dtype=float), idx)


def _epochs(checked, case, batches, n, batch_size, num_epochs):
    """Split the recorded batches into epochs; name a wrong count of steps or batch sizes."""
    full = [batch_size] * (n // batch_size) + ([n % batch_size] if n % batch_size else [])
    sizes = [len(b) for b in batches]
    if sizes == full * num_epochs:
        k = len(full)
        return [np.concatenate(batches[e * k:(e + 1) * k]) for e in range(num_epochs)]
    if n % batch_size and sizes == full[:-1] * num_epochs:
        parts = " + ".join(map(str, full))
        raise CheckFailed(f"{checked}: not yet - the last, smaller batch is dropped: with n = "
                          f"{n} and batch_size = {batch_size} an epoch has "
                          f"ceil({n}/{batch_size}) = {len(full)} steps ({parts} examples); "
                          f"range(0, n, batch_size) keeps the last one")
    shown = ", ".join(map(str, sizes[:12])) + (", ..." if len(sizes) > 12 else "")
    raise CheckFailed(f"{checked}: not yet - on the case '{case}': expected {num_epochs} epochs "
                      f"of {len(full)} steps (batches of {', '.join(map(str, full))}), your loop "
                      f"made {len(sizes)} steps with batches of {shown}")


def _check_orders(checked, case, epochs, n, batch_size):
    """Every epoch uses every example once, in a fresh random order."""
    for e, order in enumerate(epochs):
        if not np.array_equal(np.sort(order), np.arange(n)):
            raise CheckFailed(f"{checked}: not yet - epoch {e} of the case '{case}' does not "
                              f"use every example exactly once (drawn with replacement?): "
                              f"take the batches from one rng.permutation(n) per epoch")
    if batch_size == n or n < 8:         # full batch: the order is irrelevant; tiny n: by chance
        return
    if np.array_equal(epochs[0], np.arange(n)):
        raise CheckFailed(f"{checked}: not yet - no shuffling: the batches take the examples in "
                          f"the order 0, 1, 2, ...; draw order = rng.permutation(n) each epoch")
    if len(epochs) > 1 and all(np.array_equal(o, epochs[0]) for o in epochs[1:]):
        raise CheckFailed(f"{checked}: not yet - the same order every epoch: draw a fresh "
                          f"rng.permutation(n) each epoch from one rng made before the loop "
                          f"(one made inside it repeats its shuffle)")


LOOP_UPDATES = {
    "right": lambda theta, g, lr: theta - lr * g,
    "moved up the gradient (theta + lr * g): descent steps against it":
        lambda theta, g, lr: theta + lr * g,
    "lr missing from the update: theta = theta - lr * g": lambda theta, g, lr: theta - g,
}


def _replay(grad, calls, lr, update):
    """The thetas passed to grad, and the final theta, of a loop that took the recorded
    batches and updated with `update`."""
    theta, seen = np.array(THETA0), []
    for _, idx in calls:
        seen.append(theta)
        theta = update(theta, grad.value(theta, idx), lr)
    return np.array(seen), theta


def _check_updates(checked, case, grad, theta, lr):
    got = (np.array([t for t, _ in grad.calls]), theta)
    for name, update in LOOP_UPDATES.items():
        if same(got, _replay(grad, grad.calls, lr, update)):
            if name == "right":
                return
            raise CheckFailed(f"{checked}: not yet - {name}")
    seen, final = _replay(grad, grad.calls, lr, LOOP_UPDATES["right"])
    step = next((k for k, (a, b) in enumerate(zip(got[0], seen)) if not same((a,), (b,))), None)
    where = f"the theta passed to grad at step {step} is not theta after step {step - 1}" \
        if step else "the theta you return is not the one after the last step"
    raise CheckFailed(f"{checked}: not yet - on the case '{case}': {where}; each step is "
                      f"theta = theta - lr * grad(theta, idx)")


def _run_loop(checked, fn, n, batch_size, lr, num_epochs, seed):
    """(grad, theta, num_steps) of the student's loop on the line fit with n points."""
    label = f"n = {n}, batch_size = {batch_size}, {num_epochs} epochs"
    grad = _RecordedGrad(n, seed=n)
    result = call(checked, fn, Case(label, ()),
                  args=(grad, np.array(THETA0), n, batch_size, lr, num_epochs, seed))
    if isinstance(result, (tuple, list)) and len(result) == 2 and _is_number(result[0]) \
            and np.ndim(result[1]) == 1:
        raise CheckFailed(f"{checked}: not yet - theta and num_steps in the wrong order: "
                          f"return theta, num_steps")
    theta, num_steps = as_outputs(checked, result, ("theta", "num_steps"),
                                  numbers=("num_steps",))
    return label, grad, theta, num_steps


def _orders(grad, n, batch_size, num_epochs):
    """The example order of every epoch, from the recorded batches."""
    return np.concatenate([idx for _, idx in grad.calls]).reshape(num_epochs, n)


def _legacy_orders(seed, n, num_epochs):
    """The orders of np.random.seed(seed) followed by np.random.permutation(n) per epoch."""
    legacy = np.random.RandomState(seed)
    return np.array([legacy.permutation(n) for _ in range(num_epochs)])


def _check_seed(checked, fn, case):
    """The same seed gives the same orders, another seed other ones, from default_rng(seed)."""
    n, batch_size, lr, num_epochs = case
    runs = [_run_loop(checked, fn, n, batch_size, lr, num_epochs, seed)[1] for seed in (3, 3, 4)]
    orders = [_orders(grad, n, batch_size, num_epochs) for grad in runs]
    if np.array_equal(orders[0], _legacy_orders(3, n, num_epochs)):
        raise CheckFailed(f"{checked}: not yet - the legacy global generator (np.random.seed): "
                          f"make rng = np.random.default_rng(seed) and draw rng.permutation(n)")
    if not np.array_equal(orders[0], orders[1]) or np.array_equal(orders[0], orders[2]):
        raise CheckFailed(f"{checked}: not yet - the seed is ignored: make rng = "
                          f"np.random.default_rng(seed) once, before the loop, and shuffle "
                          f"with rng.permutation(n)")


def minibatch_gd(fn):
    """Check fn(grad, theta0, n, batch_size, lr, num_epochs, seed) -> (theta (2,), num_steps):
    mini-batch gradient descent on the line fit of lesson 1, run on four cases."""
    checked = "minibatch_gd"
    cases = [(10, 4, 0.1, 3), (12, 3, 0.2, 2), (6, 6, 0.3, 3), (5, 1, 0.05, 2)]
    for n, batch_size, lr, num_epochs in cases:
        label, grad, theta, num_steps = _run_loop(checked, fn, n, batch_size, lr, num_epochs, 0)
        if not grad.calls:
            raise CheckFailed(f"{checked}: not yet - grad was never called: each step calls "
                              f"g = grad(theta, idx) for its batch idx")
        epochs = _epochs(checked, label, [idx for _, idx in grad.calls], n, batch_size,
                         num_epochs)
        _check_orders(checked, label, epochs, n, batch_size)
        if num_steps != len(grad.calls):
            raise CheckFailed(f"{checked}: not yet - num_steps = {num_steps:g} is not the "
                              f"number of updates you made ({len(grad.calls)}): count one step "
                              f"per batch")
        _check_updates(checked, label, grad, theta, lr)
    _check_seed(checked, fn, cases[0])
    total = sum(math.ceil(n / b) * e for n, b, _, e in cases)
    passed(checked, f"{len(cases)} cases ({total} steps): every epoch uses each example once "
                    f"in a fresh order, the last smaller batch is kept, each step is "
                    f"theta - lr * grad")


def _sgd_step(theta, velocity, g, lr, momentum):
    """One step of helpers.SGD from the given velocity: (theta, velocity) afterwards.

    SGD keeps no velocity when momentum = 0; the update is then v = g, theta -= lr * v."""
    p = np.array(theta, dtype=float)
    opt = SGD([("theta", p, np.array(g, dtype=float))], lr=lr, momentum=momentum)
    opt.velocity[0][...] = velocity
    opt.step()
    return p, (opt.velocity[0] if momentum else np.array(g, dtype=float))


def _run_steps(step):
    """outputs(theta, velocity, steps, momentum): the final (theta, velocity) after applying
    step(theta, velocity, g, lr, momentum) for every (g, lr) in steps."""
    def outputs(theta, velocity, steps, momentum):
        for g, lr in steps:
            theta, velocity = step(theta, velocity, g, lr, momentum)
        return theta, velocity
    return outputs


MOMENTUM_MISTAKES = [
    Mistake("lr inside the velocity (v = momentum * v - lr * grad)",
            "here, as in helpers.SGD and PyTorch, v = momentum * v + grad, then "
            "theta = theta - lr * v",
            _run_steps(lambda t, v, g, lr, m: (t + (m * v - lr * g), m * v - lr * g))),
    Mistake("lr inside the velocity (v = momentum * v + lr * grad)",
            "v sums plain gradients: v = momentum * v + grad, then theta = theta - lr * v "
            "(a change of lr acts at once)",
            _run_steps(lambda t, v, g, lr, m: (t - (m * v + lr * g), m * v + lr * g))),
    Mistake("dampened momentum (v = momentum * v + (1 - momentum) * grad)",
            "that averages the gradients; heavy ball adds the whole gradient: "
            "v = momentum * v + grad", _run_steps(
                lambda t, v, g, lr, m: (t - lr * (m * v + (1 - m) * g), m * v + (1 - m) * g))),
    Mistake("the step uses the old velocity",
            "update the velocity first, then step with the new one: v = momentum * v + grad; "
            "theta = theta - lr * v",
            _run_steps(lambda t, v, g, lr, m: (t - lr * v, m * v + g))),
    Mistake("moved up the gradient", "descent steps against it: theta = theta - lr * v",
            _run_steps(lambda t, v, g, lr, m: (t + lr * (m * v + g), m * v + g))),
    Mistake("momentum ignored (v = grad)", "the velocity carries the past: "
            "v = momentum * v + grad, then theta = theta - lr * v",
            _run_steps(lambda t, v, g, lr, m: (t - lr * g, g))),
    Mistake("the new velocity is not returned", "return (theta, v) with the updated v, so the "
            "next step builds on it", _run_steps(lambda t, v, g, lr, m: (t - lr * (m * v + g),
                                                                       v))),
]


def _student_steps(checked, fn, case):
    """The student's (theta, velocity) after every step of the case, fed back step by step."""
    theta, velocity, steps, momentum = case.args
    for g, lr in steps:
        result = call(checked, fn, case, args=(theta.copy(), velocity.copy(), g.copy(), lr,
                                               momentum), keep_inputs=False)
        theta, velocity = as_outputs(checked, result, ("theta", "velocity"))
    return theta, velocity


def momentum_step(fn):
    """Check fn(theta, velocity, g, lr, momentum) -> (theta, velocity), all arrays of the
    parameter's shape: one step of SGD with heavy-ball momentum, as helpers.SGD takes it."""
    rng = np.random.default_rng(0)

    def vec(*shape):
        return rng.normal(size=shape)
    cases = [Case("first step (velocity 0)", (vec(2), np.zeros(2), [(vec(2), 0.1)], 0.9)),
             Case("velocity from earlier steps", (vec(2), vec(2), [(vec(2), 0.1)], 0.9)),
             Case("momentum = 0 (plain SGD)", (vec(2), vec(2), [(vec(2), 0.3)], 0.0)),
             Case("a (3, 4) weight matrix", (vec(3, 4), vec(3, 4), [(vec(3, 4), 0.05)], 0.5)),
             Case("5 steps, lr lowered from 0.1 to 0.01", (
                 vec(2), np.zeros(2), [(vec(2), lr) for lr in (0.1, 0.1, 0.1, 0.01, 0.01)],
                 0.9))]
    run_check("momentum_step", fn, cases, _run_steps(_sgd_step), names=("theta", "velocity"),
              mistakes=MOMENTUM_MISTAKES, against="helpers.SGD",
              get=lambda f, case: _student_steps("momentum_step", f, case))
