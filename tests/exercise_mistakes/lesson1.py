"""Wrong lesson 1 exercise answers, one mistake each.

Each function's docstring says which check it is for and the name that check must give its
mistake ("check_name: the mistake's name"). The wrong loops share one skeleton, `loop`, the
mini-batch loop of lesson 1 in which a keyword swaps out one part.
"""
import numpy as np


def loop(grad, theta0, n, batch_size, lr, num_epochs, seed=0, *,
         order=lambda rng, n: rng.permutation(n), stop=lambda n, b: n,
         update=lambda theta, g, lr: theta - lr * g, count=lambda steps, epochs: steps,
         rng_per_epoch=False, shuffle_once=False, in_place=False):
    """minibatch_gd with one part changed by a keyword."""
    rng = np.random.default_rng(seed)
    theta = theta0 if in_place else np.array(theta0, dtype=float)
    steps, first = 0, order(rng, n)
    for _ in range(num_epochs):
        if rng_per_epoch:
            rng = np.random.default_rng(seed)
        perm = first if shuffle_once else order(rng, n)
        for start in range(0, stop(n, batch_size), batch_size):
            g = grad(theta, perm[start:start + batch_size])
            if in_place:
                theta -= lr * g
            else:
                theta = update(theta, g, lr)
            steps += 1
    return theta, count(steps, num_epochs)


def shuffled_once(*args):
    """minibatch_gd: the same order every epoch"""
    return loop(*args, shuffle_once=True)


def generator_made_in_the_loop(*args):
    """minibatch_gd: the same order every epoch"""
    return loop(*args, rng_per_epoch=True)


def never_shuffled(*args):
    """minibatch_gd: no shuffling"""
    return loop(*args, order=lambda rng, n: np.arange(n))


def last_batch_dropped(*args):
    """minibatch_gd: the last, smaller batch is dropped"""
    return loop(*args, stop=lambda n, batch_size: n - n % batch_size)


def drawn_with_replacement(*args):
    """minibatch_gd: does not use every example exactly once"""
    return loop(*args, order=lambda rng, n: rng.integers(0, n, size=n))


def counts_epochs(*args):
    """minibatch_gd: is not the number of updates"""
    return loop(*args, count=lambda steps, epochs: epochs)


def gradient_ascent(*args):
    """minibatch_gd: moved up the gradient"""
    return loop(*args, update=lambda theta, g, lr: theta + lr * g)


def forgets_lr(*args):
    """minibatch_gd: lr missing from the update"""
    return loop(*args, update=lambda theta, g, lr: theta - g)


def updates_theta0_in_place(*args):
    """minibatch_gd: changed in place"""
    return loop(*args, in_place=True)


def sutskever_form(theta, velocity, g, lr, momentum):
    """momentum_step: lr inside the velocity (v = momentum * v - lr * grad)"""
    velocity = momentum * velocity - lr * g
    return theta + velocity, velocity


def lr_in_velocity(theta, velocity, g, lr, momentum):
    """momentum_step: lr inside the velocity (v = momentum * v + lr * grad)"""
    velocity = momentum * velocity + lr * g
    return theta - velocity, velocity


def dampened(theta, velocity, g, lr, momentum):
    """momentum_step: dampened momentum (v = momentum * v + (1 - momentum) * grad)"""
    velocity = momentum * velocity + (1 - momentum) * g
    return theta - lr * velocity, velocity


def steps_with_old_velocity(theta, velocity, g, lr, momentum):
    """momentum_step: the step uses the old velocity"""
    theta = theta - lr * velocity
    return theta, momentum * velocity + g


def momentum_ascent(theta, velocity, g, lr, momentum):
    """momentum_step: moved up the gradient"""
    velocity = momentum * velocity + g
    return theta + lr * velocity, velocity


def velocity_not_returned(theta, velocity, g, lr, momentum):
    """momentum_step: the new velocity is not returned"""
    return theta - lr * (momentum * velocity + g), velocity


# --- what got through before issue 26 ---


def steps_and_theta_swapped(*args):
    """minibatch_gd: theta and num_steps in the wrong order"""
    theta, steps = loop(*args)
    return steps, theta


def theta_as_list(*args):
    """minibatch_gd: theta is a list: return a numpy array"""
    theta, steps = loop(*args)
    return list(theta), steps


def global_permutation(grad, theta0, n, batch_size, lr, num_epochs, seed=0):
    """minibatch_gd: the seed is ignored"""
    theta, steps = np.array(theta0, dtype=float), 0
    for _ in range(num_epochs):
        order = np.random.permutation(n)                     # the global generator
        for start in range(0, n, batch_size):
            theta = theta - lr * grad(theta, order[start:start + batch_size])
            steps += 1
    return theta, steps


def legacy_seed(grad, theta0, n, batch_size, lr, num_epochs, seed=0):
    """minibatch_gd: the legacy global generator (np.random.seed)"""
    np.random.seed(seed)
    theta, steps = np.array(theta0, dtype=float), 0
    for _ in range(num_epochs):
        order = np.random.permutation(n)
        for start in range(0, n, batch_size):
            theta = theta - lr * grad(theta, order[start:start + batch_size])
            steps += 1
    return theta, steps


def momentum_ignored(theta, velocity, g, lr, momentum):
    """momentum_step: momentum ignored (v = grad)"""
    return theta - lr * g, g
