"""Per-layer activation statistics over training: what the lessons plot.

For every hidden layer l the recorder keeps, at each recorded step, statistics of the input
to its nonlinearity ("pre-activation", the paper's x in Figure 1) and of its output, taken on a
fixed probe batch so that checkpoints are comparable.
"""
import numpy as np

PERCENTILES = (1, 15, 50, 85, 99)   # 15/50/85 are the paper's Figure 1(b, c)
PRE_BINS = np.linspace(-10.0, 10.0, 401)   # 0.05 wide: fine enough for small inits


def density_histogram(values, bins):
    """Density histogram on fixed, evenly spaced bins; values outside go to the end bins.

    Computed with arithmetic and bincount: ~10x faster than np.histogram, which matters
    because recording must not slow training down.
    """
    n_bins, width = len(bins) - 1, bins[1] - bins[0]
    with np.errstate(invalid="ignore"):     # a diverged run's nan lands in an end bin
        idx = ((np.ravel(values) - bins[0]) / width).astype(np.int64)
    counts = np.bincount(np.clip(idx, 0, n_bins - 1), minlength=n_bins)
    return counts / (counts.sum() * width)


def end_bin_fraction(hist, bins):
    """Fraction of a density histogram's mass in its two end bins, where `density_histogram`
    piles every value beyond the range. hist (..., B) on evenly spaced bins (B + 1,);
    returns (...). For PRE_BINS these are |x| > 9.95, where a sigmoid passes no gradient."""
    return np.asarray(hist)[..., [0, -1]].sum(axis=-1) * (bins[1] - bins[0])


def unit_drift(unit_pct):
    """Per-unit drift (U,): how far the 15th/50th/85th percentiles of each unit's input move
    between consecutive recorded steps, averaged over steps and the three percentiles (in the
    units of the input to the nonlinearity). A shift that pooling all units hides shows here.

    unit_pct: (T >= 2, U, 5) percentiles PERCENTILES of each unit at each recorded step,
    one layer of Recorder.result()["unit_pct"].
    """
    unit_pct = np.asarray(unit_pct, dtype=float)
    if unit_pct.ndim != 3 or unit_pct.shape[0] < 2 or unit_pct.shape[2] != len(PERCENTILES):
        raise ValueError(f"unit_pct must have shape (T >= 2, U, {len(PERCENTILES)}), "
                         f"got {unit_pct.shape}")
    return np.abs(np.diff(unit_pct[:, :, 1:4], axis=0)).mean(axis=(0, 2))


class Recorder:
    """Collects statistics from `model.activations` after a forward pass on `probe` (P, D)."""

    def __init__(self, model, probe, pre_bins=PRE_BINS, post_bins=None):
        self.model, self.probe = model, probe
        self.pre_bins = np.asarray(pre_bins, dtype=float)
        if not np.allclose(np.diff(self.pre_bins), self.pre_bins[1] - self.pre_bins[0]):
            raise ValueError("pre_bins must be evenly spaced, e.g. np.linspace(-10, 10, 401)")
        lo, hi = model.activations[0].out_range
        self.post_bins = np.linspace(lo, hi, 51) if post_bins is None else post_bins
        self.steps, self.grad_steps = [], []
        self.rows = {k: [] for k in ("pre_pct", "unit_pct", "pre_mean", "pre_std", "pre_hist",
                                     "post_hist", "saturation")}
        self.grad_rows = {"grad_norm": [], "weight_norm": []}

    def record(self, step):
        """Forward the probe (caller freezes running stats) and store one row per statistic."""
        self.model.forward(self.probe)
        pre = [a.x for a in self.model.activations]
        post = [a.out for a in self.model.activations]
        self.steps.append(step)
        r = self.rows
        r["pre_pct"].append([np.percentile(p, PERCENTILES) for p in pre])
        r["unit_pct"].append([np.percentile(p, PERCENTILES, axis=0).T for p in pre])
        r["pre_mean"].append([p.mean() for p in pre])
        r["pre_std"].append([p.std() for p in pre])
        r["pre_hist"].append([density_histogram(p, self.pre_bins) for p in pre])
        r["post_hist"].append([density_histogram(q, self.post_bins) for q in post])
        r["saturation"].append([a.saturated(q).mean()
                                for a, q in zip(self.model.activations, post)])

    def record_grads(self, model, step):
        """After a backward pass: the norm of each hidden Linear's weight gradient and weight."""
        self.grad_steps.append(step)
        hidden = model.linears[:len(model.activations)]
        self.grad_rows["grad_norm"].append([np.linalg.norm(lin.grads["W"]) for lin in hidden])
        self.grad_rows["weight_norm"].append([np.linalg.norm(lin.params["W"]) for lin in hidden])

    def result(self):
        """A dict of arrays; L = hidden layers, T = recorded steps, U = units per layer.

        steps (T,); pre_pct (T, L, 5) percentiles PERCENTILES over all units and examples;
        unit_pct: list over layers of (T, U, 5) per-unit percentiles; pre_mean, pre_std,
        saturation (T, L); pre_hist (T, L, len(pre_bins)-1) and post_hist densities;
        grad_steps (G,), grad_norm and weight_norm (G, L).
        """
        out = {"steps": np.array(self.steps), "percentiles": np.array(PERCENTILES),
               "pre_bins": self.pre_bins, "post_bins": self.post_bins,
               "grad_steps": np.array(self.grad_steps)}
        for k, rows in self.rows.items():
            if k == "unit_pct":
                out[k] = [np.array([row[l] for row in rows]) for l in range(len(rows[0]))]
            else:
                out[k] = np.array(rows)
        for k, rows in self.grad_rows.items():
            out[k] = np.array(rows)
        return out
