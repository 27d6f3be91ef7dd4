"""The start of lesson 2's run: the loss at initialisation and the hump of the first steps.

With N(0, 0.01^2) weights every hidden sigmoid outputs about 0.5 on every image, so the
output layer sees 100 nearly equal inputs: its weights act like 100 extra copies of its bias,
and one SGD step moves each class score about (1 + sum_j h_j^2) times as far as a bias step
alone would. `output_sharpness` measures the curvature that makes this too big a step (the
Lesson 1 rule: gradient descent on a quadratic with curvature lambda overshoots and
grows when lr * lambda > 2); `first_steps` replays the run's first steps to measure it.
"""
import numpy as np

from ..layers import softmax
from ..network import make_mlp
from ..training import train
from .lesson2_sources import hidden_inputs, snapshot


def output_sharpness(model, params, X, iters=100, seed=0):
    """Largest eigenvalue of the Hessian of the mean cross-entropy on X (N, D) with respect to
    the output layer's W (H, C) and b (C,), the parameters being `params` (a `snapshot`).

    The logits z = h W + b are linear in these, so the Hessian is exactly
    mean_n [h~_n h~_n^T (x) (diag p_n - p_n p_n^T)] with h~ = [h, 1] and p = softmax(z); it does
    not depend on the labels. Computed by power iteration (iters steps, start from `seed`).
    """
    inputs, pre = hidden_inputs(model, params, X)
    h = model.activations[-1].f(pre[-1])
    ht = np.hstack([h, np.ones((len(h), 1))])                  # (N, H + 1)
    out = params[len(model.activations)]
    p = softmax(h @ out["W"] + out["b"])                       # (N, C)

    def hvp(v):                                                # v: (H + 1, C)
        dz = ht @ v                                            # (N, C) logit direction
        s = p * dz - p * (p * dz).sum(axis=1, keepdims=True)   # (diag p - p p^T) dz
        return ht.T @ s / len(ht)

    v = np.random.default_rng(seed).normal(size=(ht.shape[1], p.shape[1]))
    lam = 0.0
    for _ in range(iters):
        v /= np.linalg.norm(v)
        w = hvp(v)
        lam = float((v * w).sum())
        v = w
    return lam


def softmax_curvature(model, params, X):
    """Mean over the images of X (N, D) of the largest eigenvalue of diag(p) - p p^T, p the
    softmax output (C,) under `params`: the curvature of the cross-entropy along the class
    scores: 1/C (0.1 for C = 10) when the probabilities are equal, up to 1/2 when two classes
    share all the probability."""
    _, pre = hidden_inputs(model, params, X)
    h = model.activations[-1].f(pre[-1])
    out = params[len(model.activations)]
    p = softmax(h @ out["W"] + out["b"])                       # (N, C)
    m = p[:, :, None] * np.eye(p.shape[1]) - p[:, :, None] * p[:, None, :]
    return float(np.linalg.eigvalsh(m)[:, -1].mean())


def first_steps(X, y, *, num_steps, batch_size, lr, probe, seed=0):
    """Replay the first `num_steps` steps of the lesson's run (make_mlp(seed=seed) trained by
    `train` with the same batch_size, lr and batch seed: the same batches, the same updates).

    Before every update and after the last, on probe (P, D): the mean output of the last
    hidden layer, the mean over images of sum_j h_j^2 over its units, and lr * lambda_max of
    the output layer (`output_sharpness`), and the softmax curvature (`softmax_curvature`).
    Returns {"steps" (S + 1,), "h_mean", "h_sq", "lr_lambda", "p_curv" (S + 1,), "loss" (S,):
    each step's batch loss}.
    """
    model = make_mlp(seed=seed)
    history = train(model, X, y, batch_size=batch_size, lr=lr, num_steps=num_steps, seed=seed,
                    eval_every=0, measure=snapshot, measure_every=1)
    rows = []
    for params in history.measurements:
        _, pre = hidden_inputs(model, params, probe)
        h = model.activations[-1].f(pre[-1])
        rows.append((h.mean(), (h ** 2).sum(axis=1).mean(),
                     lr * output_sharpness(model, params, probe),
                     softmax_curvature(model, params, probe)))
    rows = np.array(rows)
    return {"steps": np.array(history.measure_steps), "h_mean": rows[:, 0],
            "h_sq": rows[:, 1], "lr_lambda": rows[:, 2], "p_curv": rows[:, 3],
            "loss": np.array(history.loss)}
