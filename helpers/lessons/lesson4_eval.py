"""Lesson 4: eval mode's cost and the trap's end point.

The engine's `helpers.batchnorm_eval` has the population statistics, Algorithm 2, the
training-mode formula at test time, the train/eval comparison and folding; this module keeps
what only lesson 4 measures with them.
"""
from ..batchnorm_eval import population_stats


def single_batch_stats(model, batch):
    """The running statistics a BatchNorm with momentum=1 holds after one training-mode pass of
    `batch` (m, D), m >= 2: each layer's batch mean and unbiased variance. This is where the
    momentum convention trap ends up: the statistics of whichever batch came last.
    """
    m = len(batch)
    if m < 2:
        raise ValueError(f"a batch needs at least 2 examples, got {m}")
    return [(mean, var * m / (m - 1)) for mean, var in population_stats(model, batch)]


def inference_cost(model):
    """Arithmetic per example in eval mode: {"multiply-adds", "bn ops", "bias adds", "total"}.

    A Linear costs in*out multiply-adds (+ out bias adds); an eval-mode BatchNorm as written,
    gamma * (x - mean) / std + beta, costs 4 operations per feature. Nonlinearities not counted.
    """
    macs = sum(lin.in_features * lin.out_features for lin in model.linears)
    bias = sum(lin.out_features for lin in model.linears if "b" in lin.params)
    bn = sum(4 * bn.num_features for bn in model.batchnorms)
    return {"multiply-adds": macs, "bn ops": bn, "bias adds": bias, "total": macs + bn + bias}
