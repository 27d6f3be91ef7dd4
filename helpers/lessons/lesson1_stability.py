"""When does gradient descent on the line fit settle, and where? Closed-form answers for
Lesson 1's least-squares problem y_hat = w x + b, to set beside its runs.

Near the minimum theta*, one step on a batch B moves the error e = theta - theta* to
    e' = e - lr * v',   v' = momentum * v + H_B e + (noise of the batch at theta*),
with H_B = mean over the batch of a_i a_i^T and a_i = (x_i, 1). The noise does not decide
whether e grows; H_B does. `mean_square_growth` is the factor by which one step multiplies
the mean squared error in the long run (above 1: the run diverges); `largest_stable_lr` is
where it crosses 1; `predicted_floor` is the loss a stable run should settle at, and
`loss_floor` where a run did settle.
"""
import numpy as np

from ..training import check_batch_size
from .lesson1_descent import noise_law, per_example_grads, x_vector


def features(X):
    """The rows a_i = (x_i, 1) of the line fit: X (N, 1) -> (N, 2)."""
    x = x_vector(X)
    return np.column_stack([x, np.ones(len(x))])


def hessian(X):
    """The (constant) Hessian H = mean_i a_i a_i^T of the loss: X (N, 1) -> (2, 2)."""
    A = features(X)
    return A.T @ A / len(A)


def condition_number(X):
    """lambda_max / lambda_min of the Hessian: how much steeper the steepest direction is."""
    lam = np.linalg.eigvalsh(hessian(X))
    return lam[-1] / lam[0]


def heavy_ball_edge(X, momentum=0.0):
    """Full batch is stable iff lr < 2 (1 + momentum) / lambda_max (heavy ball on a bowl)."""
    return 2 * (1 + momentum) / np.linalg.eigvalsh(hessian(X))[-1]


def overshoot_fraction(X, lr):
    """Share of examples whose own step overshoots: one step on example i alone multiplies the
    error along a_i by 1 - lr ||a_i||^2 = 1 - lr (1 + x_i^2); it grows if that is beyond +-1."""
    return float(np.mean(np.abs(1 - lr * (1 + x_vector(X) ** 2)) > 1))


def mean_square_growth(X, lr, batch_size=1, momentum=0.0):
    """Long-run factor per step of the mean squared error E||theta - theta*||^2 (a float).

    The step is linear in the state z = (e_t, e_{t-1}) (4,): z' = A_B z + noise, with
    A_B = [[(1 + momentum) I - lr H_B, -momentum I], [I, 0]]. Then E[z' z'^T] follows the
    map E[A_B (x) A_B] (16 x 16, (x) the Kronecker product), whose spectral radius is
    returned. Batches are drawn at random without replacement, each step independently of the
    last (the loop's epochs are close to that), so E[H_B (x) H_B] = H (x) H + (E[h (x) h] -
    H (x) H) / B * (N - B) / (N - 1), h_i = a_i a_i^T. Full batch (B = N) gives
    rho(A)^2 of the deterministic step; momentum 0 and B = 1 reduce to the average of the
    squared one-example factors.
    """
    A = features(X)
    n = len(A)
    check_batch_size(n, batch_size)
    h = np.einsum("ni,nj->nij", A, A)                              # (N, 2, 2)
    H = h.mean(axis=0)
    HH = np.kron(H, H)
    hh = np.einsum("nij,nkl->ikjl", h, h).reshape(4, 4) / n       # mean_i kron(h_i, h_i)
    EHH = HH + (hh - HH) / batch_size * (n - batch_size) / (n - 1)
    eye, zero = np.eye(2), np.zeros((2, 2))
    A0 = np.block([[(1 + momentum) * eye, -momentum * eye], [eye, zero]])
    J = np.vstack([eye, zero])                                     # (4, 2): H_B acts on e_t
    P, JJ = J @ H @ J.T, np.kron(J, J)
    T = (np.kron(A0, A0) - lr * (np.kron(P, A0) + np.kron(A0, P))
         + lr ** 2 * JJ @ EHH @ JJ.T)
    return float(np.abs(np.linalg.eigvals(T)).max())


def largest_stable_lr(X, batch_size=1, momentum=0.0, lo=1e-4, hi=10.0, iters=60):
    """The lr where mean_square_growth crosses 1 (geometric bisection between lo and hi)."""
    if mean_square_growth(X, lo, batch_size, momentum) >= 1:
        raise ValueError(f"already unstable at lr = {lo}")
    for _ in range(iters):
        mid = np.sqrt(lo * hi)
        if mean_square_growth(X, mid, batch_size, momentum) < 1:
            lo = mid
        else:
            hi = mid
    return float(lo)


def gradient_spread_at(theta, X, y):
    """sigma^2 = mean_i ||g_i - g||^2 of the per-example gradients at theta (2,); X (N, 1)."""
    G = per_example_grads(np.asarray(theta, dtype=float), X, y)
    return float(np.mean(np.sum((G - G.mean(axis=0)) ** 2, axis=1)))


def predicted_floor(sigma2, lr, batch_size, n, momentum=0.0):
    """Loss above the minimum where SGD settles, for a small lr on a quadratic:
    lr * E||g_B - g||^2 / (4 (1 - momentum)), the batch noise from `noise_law` with sigma2
    measured at the minimum. Assumes independent batches; an epoch's reshuffle makes the
    noise of consecutive steps cancel in part, so measured floors can sit below it."""
    return lr * noise_law(sigma2, n, batch_size) / (4 * (1 - momentum))


def loss_floor(path, loss_star, last_epochs=5):
    """Where a run settled: its full-data loss above loss_star, averaged over the steps of its
    last `last_epochs` epochs (a `lesson1_descent.Path` that did not diverge)."""
    if path.diverged:
        raise ValueError("a diverged run has no floor")
    return float(np.mean(path.loss[-last_epochs * path.config["steps_per_epoch"]:] - loss_star))
