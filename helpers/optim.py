"""Optimizers. Each takes the (name, param, grad) list of `Sequential.parameters()` and
updates the params in place on `step()`; they share one signature so a lesson swaps them."""
import numpy as np


class SGD:
    """Stochastic gradient descent with optional heavy-ball momentum (PyTorch's form):

        velocity = momentum * velocity + grad
        param   -= lr * velocity

    momentum=0 is plain SGD. (Not to be confused with batch norm's `momentum`, the weight of
    the new batch in the running averages.)
    """

    def __init__(self, parameters, lr=0.1, momentum=0.0):
        if not (isinstance(lr, (int, float, np.floating)) and lr > 0):
            raise ValueError(f"lr must be a positive number, got {lr!r}")
        if not (isinstance(momentum, (int, float, np.floating)) and 0.0 <= momentum < 1.0):
            raise ValueError(f"momentum must be a number in [0, 1), got {momentum!r}")
        self.parameters = list(parameters)
        self.lr, self.momentum = lr, momentum
        self.velocity = [np.zeros_like(p) for _, p, _ in self.parameters]

    def step(self):
        for (_, p, g), v in zip(self.parameters, self.velocity):
            if self.momentum:
                v *= self.momentum
                v += g
                p -= self.lr * v
            else:
                p -= self.lr * g

