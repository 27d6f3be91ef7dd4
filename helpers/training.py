"""One training loop for every gradient-descent variant: the batch size is the only difference.

batch_size = N is full-batch ("vanilla") gradient descent, batch_size = 1 is stochastic
gradient descent, anything between is mini-batch. Vocabulary: a *step* (iteration) is one
parameter update from one *batch*; an *epoch* is one pass over all N training examples, i.e.
ceil(N / batch_size) steps.
"""
import math
from dataclasses import dataclass, field

import numpy as np

from .batchnorm import frozen_running_stats
from .divergence import cross_entropy_divergence
from .layers import softmax_cross_entropy
from .optim import SGD
from .progress import progress_bar
from .recording import PRE_BINS, Recorder
from .validate import NonFiniteError, check_finite, check_int


def steps_per_epoch(n, batch_size, drop_last=False):
    """Number of updates in one pass over n examples."""
    return n // batch_size if drop_last else math.ceil(n / batch_size)


def check_batch_size(n, batch_size):
    """Raise ValueError unless batch_size is an int from 1 to n."""
    check_int("batch_size", batch_size, 1, n)


def iterate_minibatches(n, batch_size, rng, drop_last=False):
    """Yield index arrays that cover range(n) once, in a fresh random order (one epoch).

    rng: np.random.Generator, so the same seed gives the same batches.
    """
    check_batch_size(n, batch_size)
    order = rng.permutation(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        yield order[start:start + batch_size]


@dataclass
class History:
    """What `train` measured. Arrays are indexed by step (0-based) unless named otherwise."""
    config: dict
    loss: list = field(default_factory=list)            # training loss of each step's batch
    epoch: list = field(default_factory=list)           # epoch (from 0) each step belongs to
    examples_seen: list = field(default_factory=list)   # examples processed after each step
    eval_steps: list = field(default_factory=list)      # steps at which accuracy was measured
    train_acc: list = field(default_factory=list)
    test_acc: list = field(default_factory=list)
    activations: dict = None                            # see recording.Recorder.result
    measure_steps: list = field(default_factory=list)   # steps at which measure() ran
    measurements: list = field(default_factory=list)    # what measure(model) returned there
    diverged: dict = None                               # {"step", "reason"}: see divergence

    @property
    def num_steps(self):
        return len(self.loss)

    def message(self):
        """One line a lesson can print under a plot: how much training (steps, epochs,
        examples), the loss averaged over the last tenth of the steps (one batch's loss is
        noise), and the last test accuracy."""
        if self.diverged:
            return f"training diverged at step {self.diverged['step']}: {self.diverged['reason']}"
        c, tail = self.config, max(1, round(0.1 * self.num_steps))
        epochs = self.examples_seen[-1] / c["n"] if self.examples_seen else 0.0
        acc = f", test accuracy {self.test_acc[-1]:.1%}" if self.test_acc else ""
        return (f"{self.num_steps} steps = {epochs:.3g} epochs ({self.examples_seen[-1]:,} "
                f"examples), loss {np.mean(self.loss[-tail:]):.3f} (mean of the last {tail} "
                f"steps){acc}")


def train(model, X, y, *, batch_size, lr, num_steps=None, num_epochs=None, momentum=0.0,
          seed=0, parameters=None, X_test=None, y_test=None, eval_every=100,
          record_every=None, probe=None, pre_bins=None, measure=None, measure_every=None,
          callback=None, drop_last=False, progress=False):
    """Train `model` with mini-batch SGD on X (N, D), y (N,); return a `History`.

    The one training loop of the course: every gradient-descent variant is a batch size.
      num_steps / num_epochs: stop after that many updates or passes (give one).
      momentum: SGD's heavy-ball momentum. seed: the order of the batches (one shuffle per
        epoch from np.random.default_rng(seed)); the model's own seed is make_mlp's.
      parameters: which (name, param, grad) triples SGD updates; default all of
        model.parameters(). The others stay exactly as they are (frozen).
      eval_every: accuracy (eval mode) every k steps on up to 1000 training examples and on
        X_test; 0 or None: never.
      record_every: per-layer activation statistics every k steps (see `Recorder`) on
        `probe` (a fixed (P, D) batch, default X[:500]) in training mode with running
        statistics frozen; pre_bins (evenly spaced) replace the default histogram bins.
      measure, measure_every: measure(model) is called every k steps; its results go to
        History.measurements, with the steps in History.measure_steps.
      Every *_every measurement runs at step 0 (before any update), every k steps, and once
        more at the end.
      callback(step, model, loss): after every update (step = updates done), for
        experiments that watch each step (e.g. every batch's statistics).
      drop_last=True: skip each epoch's last, smaller batch.
      progress: a progress bar (a str is its label).
    X, y, X_test, y_test must be finite: a nan or inf raises NonFiniteError (a ValueError)
    naming the array and its first bad index. A non-finite loss, or an activation that
    overflows to inf or nan during training, stops training and marks the run diverged;
    otherwise History.diverged follows `divergence`'s rule for cross-entropy (non-finite, or
    the last tenth worse than guessing by half).
    """
    if (num_steps is None) == (num_epochs is None):
        raise ValueError("give exactly one of num_steps and num_epochs")
    count = num_steps if num_steps is not None else num_epochs
    check_int("num_steps" if num_steps is not None else "num_epochs", count)
    for name, a in (("X", X), ("y", y), ("X_test", X_test), ("y_test", y_test)):
        if a is not None:
            check_finite(f"train()'s {name}", a)
    n = len(X)
    if len(y) != n:
        raise ValueError(f"X and y must have the same length, got {n} and {len(y)}")
    check_batch_size(n, batch_size)
    if measure_every is not None and measure is None:
        raise ValueError("measure_every needs a measure(model) function")
    # a trailing batch of one cannot be batch-normalized in training mode; skip it
    drop_last = drop_last or (bool(model.batchnorms) and n % batch_size == 1)
    total = num_steps if num_steps is not None else \
        num_epochs * steps_per_epoch(n, batch_size, drop_last)
    rng = np.random.default_rng(seed)
    opt = SGD(model.parameters() if parameters is None else parameters, lr=lr,
              momentum=momentum)
    history = History(config=dict(batch_size=batch_size, lr=lr, momentum=momentum, seed=seed,
                                  num_steps=total, n=n))
    recorder = None
    if record_every:
        recorder = Recorder(model, X[:500] if probe is None else probe,
                            PRE_BINS if pre_bins is None else pre_bins)

    def measure_all(step):
        """Every measurement due before this step's update (all of them after the last)."""
        last = step == total
        if recorder is not None and (step % record_every == 0 or last):
            with frozen_running_stats(model):
                recorder.record(step)
        if eval_every and (step % eval_every == 0 or last):
            _evaluate(model, X, y, X_test, y_test, step, history)
        if measure is not None and (step % (measure_every or total) == 0 or last):
            history.measure_steps.append(step)
            history.measurements.append(measure(model))

    bar = progress_bar(total, progress)
    model.train()
    step, epoch, seen = 0, 0, 0
    num_classes = None
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        while step < total and not history.diverged:
            for idx in iterate_minibatches(n, batch_size, rng, drop_last):
                if step >= total:
                    break
                try:
                    measure_all(step)
                    logits = model.forward(X[idx])
                except NonFiniteError as err:   # the run's own activations overflowed
                    history.diverged = {"step": step, "reason": f"an activation overflowed "
                                                                f"({err})"}
                    break
                num_classes = logits.shape[1]
                loss, dlogits = softmax_cross_entropy(logits, y[idx])
                if not np.isfinite(loss):
                    history.diverged = {"step": step, "reason": f"the loss became {loss}"}
                    break
                model.backward(dlogits)
                if recorder is not None and step % record_every == 0:
                    recorder.record_grads(model, step)
                opt.step()
                seen += len(idx)
                history.loss.append(float(loss))
                history.epoch.append(epoch)
                history.examples_seen.append(seen)
                step += 1
                bar.update(1)
                if callback is not None:
                    callback(step, model, float(loss))
            epoch += 1
        if not history.diverged:              # finished: measure the trained model once more
            try:
                measure_all(step)
                history.diverged = cross_entropy_divergence(history.loss, num_classes or 10)
            except NonFiniteError as err:
                history.diverged = {"step": step, "reason": f"an activation overflowed ({err})"}
    bar.close()
    if recorder is not None and recorder.steps:     # none if the very first forward overflowed
        history.activations = recorder.result()
    return history


def _evaluate(model, X, y, X_test, y_test, step, history):
    history.eval_steps.append(step)
    history.train_acc.append(model.accuracy(X[:1000], y[:1000]))
    if X_test is not None:
        history.test_acc.append(model.accuracy(X_test, y_test))
