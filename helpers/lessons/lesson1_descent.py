"""Gradient descent you can draw: a 2-parameter least-squares problem, the one mini-batch loop
on it (batch_size = N is full batch, 1 is stochastic), and gradient noise against batch size.

The model is y_hat = w * x + b with theta = (w, b) and loss L(theta) = mean((y_hat - y)^2) / 2,
so the loss surface is a bowl over the (w, b) plane and its minimum has a closed form.
"""
import math
from dataclasses import dataclass, field

import numpy as np

from ..divergence import least_squares_divergence
from ..layers import Linear, softmax_cross_entropy
from ..optim import SGD
from ..training import check_batch_size, iterate_minibatches, steps_per_epoch
from ..validate import check_int


def x_vector(X):
    """The inputs as a vector (N,), checking that X has shape (N, 1)."""
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[1] != 1:
        raise ValueError(f"X must have shape (N, 1), got {X.shape}")
    return X[:, 0]


def loss(theta, X, y):
    """Mean squared error / 2 at theta (..., 2), e.g. one point (2,) or a grid (H, W, 2)."""
    theta = np.asarray(theta, dtype=float)[..., None]          # (..., 2, 1) against x (N,)
    residual = theta[..., 0, :] * x_vector(X) + theta[..., 1, :] - y    # (..., N)
    return 0.5 * np.mean(residual ** 2, axis=-1)


def per_example_grads(theta, X, y):
    """Gradient of each example's loss at theta (2,): returns (N, 2); their mean is dL/dtheta.

    Elementwise arithmetic, no BLAS, so the numbers are the same on every machine.
    """
    x = x_vector(X)
    residual = theta[0] * x + theta[1] - y
    return np.column_stack([residual * x, residual])


def least_squares(X, y):
    """The minimum theta* = (w, b) in closed form (the normal equations, solved stably)."""
    A = np.column_stack([x_vector(X), np.ones(len(X))])
    return np.linalg.lstsq(A, y, rcond=None)[0]


@dataclass
class Path:
    """One run of `descend`: theta (S+1, 2) and full-data loss (S+1,) after 0..S steps."""
    config: dict
    theta: np.ndarray
    loss: np.ndarray
    epoch: list = field(default_factory=list)     # epoch (from 0) of each step
    diverged: dict = None                         # {"step", "reason"} if the loss blew up

    @property
    def num_steps(self):
        return len(self.theta) - 1

    @property
    def examples_seen(self):
        """Examples processed: whole epochs of n, then full batches (only an epoch's last
        batch is smaller)."""
        c = self.config
        epochs, rest = divmod(self.num_steps, c["steps_per_epoch"])
        return epochs * c["n"] + rest * c["batch_size"]

    def message(self):
        """What the run did: steps, epochs and examples, and the loss of the whole data set
        at the end (or where and why it diverged)."""
        c = self.config
        epochs, examples = self.examples_seen / c["n"], self.examples_seen
        if self.diverged:
            return (f"diverged at step {self.diverged['step']} ({epochs:.3g} epochs, "
                    f"{examples:,} examples): {self.diverged['reason']}")
        return (f"{self.num_steps} steps = {epochs:.3g} epochs of batch size {c['batch_size']} "
                f"({examples:,} examples), loss of the whole data set {self.loss[-1]:.4f}")


def descend(X, y, *, batch_size, lr, momentum=0.0, num_epochs=None, num_steps=None,
            theta0=(-1.0, 3.0), seed=0):
    """Mini-batch gradient descent on (w, b): `helpers.train`'s loop with a 2-parameter model.

    The loop reads as train's does: batches from `iterate_minibatches` (a fresh shuffle per
    epoch from np.random.default_rng(seed)), the batch's mean gradient, one `helpers.SGD`
    step (heavy-ball momentum), bookkeeping, then the divergence check: the course's rule for
    least squares (`divergence.least_squares_divergence`: the full-data loss is non-finite or
    above 100 times its start) stops the run with Path.diverged.
    X (N, 1), y (N,). Give exactly one of num_epochs, num_steps.
    """
    n = len(X)
    if len(y) != n:
        raise ValueError(f"X and y must have the same length, got {n} and {len(y)}")
    if (num_steps is None) == (num_epochs is None):
        raise ValueError("give exactly one of num_steps and num_epochs")
    check_batch_size(n, batch_size)
    count = num_steps if num_steps is not None else num_epochs
    check_int("num_steps" if num_steps is not None else "num_epochs", count)
    theta = np.array(theta0, dtype=float)
    if theta.shape != (2,):
        raise ValueError(f"theta0 must be 2 numbers (w, b), got shape {theta.shape}")
    k = steps_per_epoch(n, batch_size)
    total = num_steps if num_steps is not None else num_epochs * k
    rng = np.random.default_rng(seed)
    grad = np.zeros(2)
    opt = SGD([("theta", theta, grad)], lr=lr, momentum=momentum)   # validates lr, momentum
    thetas, losses, epochs, diverged = [theta.copy()], [loss(theta, X, y)], [], None
    step, epoch = 0, 0
    with np.errstate(over="ignore", invalid="ignore"):
        while step < total and not diverged:
            for idx in iterate_minibatches(n, batch_size, rng):
                if step >= total:
                    break
                grad[...] = per_example_grads(theta, X[idx], y[idx]).mean(axis=0)
                opt.step()                                # updates theta in place
                step += 1
                thetas.append(theta.copy())
                losses.append(loss(theta, X, y))
                epochs.append(epoch)
                reason = least_squares_divergence(losses[-1], losses[0])
                if reason:
                    diverged = {"step": step, "reason": reason}
                    break
            epoch += 1
    config = dict(batch_size=batch_size, lr=lr, momentum=momentum, seed=seed, n=n,
                  steps_per_epoch=k, num_steps=total)
    return Path(config, np.array(thetas), np.array(losses), epochs, diverged)


def gradient_spread(grad_fn, n, batch_sizes, num_batches=2000, seed=0):
    """Measured mean squared deviation E||g_B - g||^2 of mini-batch gradients g_B around the
    full gradient g, for each batch size, with batches drawn as the training loop draws them
    (slices of a fresh permutation each epoch, i.e. without replacement; only full batches).

    grad_fn(idx) -> gradient (P,) of the mean loss over the examples idx (int array).
    num_batches: batches per batch size, an int or one int per batch size.
    Returns an array (len(batch_sizes),).
    """
    counts = np.broadcast_to(num_batches, (len(batch_sizes),))
    rng = np.random.default_rng(seed)
    g = grad_fn(np.arange(n))
    spread = []
    for b, count in zip(batch_sizes, counts):
        check_batch_size(n, b)
        sq = []
        for _ in range(math.ceil(count / (n // b))):
            for idx in iterate_minibatches(n, b, rng, drop_last=True):
                sq.append(np.sum((grad_fn(idx) - g) ** 2))
        spread.append(np.mean(sq[:count]))
    return np.array(spread)


def noise_law(sigma2, n, batch_sizes, replacement=False):
    """Predicted E||g_B - g||^2: sigma2 / B, times (N - B) / (N - 1) without replacement.

    sigma2: the per-example spread mean_i ||g_i - g||^2 (the value at B = 1).
    """
    b = np.asarray(batch_sizes, dtype=float)
    return sigma2 / b if replacement else sigma2 / b * (n - b) / (n - 1)


def mlp_gradient(model, X, y):
    """The gradient of the mean cross-entropy over (X, y), all parameters as one vector (P,)."""
    _, dlogits = softmax_cross_entropy(model.forward(X), y)
    model.backward(dlogits)
    return np.concatenate([g.ravel() for _, _, g in model.parameters()])


def mlp_per_example_spread(model, X, y):
    """sigma2 = mean_i ||g_i - g||^2 over per-example gradients g_i of an MLP without batch norm.

    Never builds the (N, P) per-example gradients: for a Linear layer g_i's weight part is the
    outer product x_i delta_i^T, whose squared norm is ||x_i||^2 ||delta_i||^2.
    """
    if model.batchnorms:
        raise ValueError("per-example gradients need independent examples: no batch norm")
    inputs, h = {}, X
    for layer in model.layers:                    # keep each Linear's input x_i
        if isinstance(layer, Linear):
            inputs[id(layer)] = h
        h = layer.forward(h)
    _, dout = softmax_cross_entropy(h, y)
    g_full = mlp_gradient(model, X, y)            # also leaves model state consistent
    dout = dout * len(X)                          # row i: d(loss of example i) / d(logits)
    sq = np.zeros(len(X))
    for layer in reversed(model.layers):
        if isinstance(layer, Linear):
            d2 = np.sum(dout ** 2, axis=1)
            sq += np.sum(inputs[id(layer)] ** 2, axis=1) * d2 + ("b" in layer.params) * d2
        dout = layer.backward(dout)
    return float(np.mean(sq) - g_full @ g_full)


# ---- lesson 1, section 7: what one full-batch step of a real network costs ------------------

VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


def vgg_cost(config=VGG16, size=224, channels=3, fc=(4096, 4096, 1000)):
    """Per image of size x size x channels: (numbers the forward pass keeps for backprop,
    multiply-adds) of a VGG network (Simonyan & Zisserman 2015): 3x3 'same' convolutions of
    the widths in config, "M" a 2x2 max-pool halving the size, then fully connected layers fc.
    """
    check_int("size", size)
    check_int("channels", channels)
    floats, macs = size * size * channels, 0
    for v in config:
        if v == "M":
            size //= 2
        else:
            macs += size * size * v * channels * 9
            channels = v
        floats += size * size * channels
    fan_in = size * size * channels
    for width in fc:
        macs += fan_in * width
        floats, fan_in = floats + width, width
    return floats, macs
