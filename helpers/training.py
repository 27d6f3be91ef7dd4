"""One training loop for every gradient-descent variant: the batch size is the only difference.

batch_size = N is full-batch ("vanilla") gradient descent, batch_size = 1 is stochastic
gradient descent, anything between is mini-batch. Vocabulary: a *step* (iteration) is one
parameter update from one *batch*; an *epoch* is one pass over all N training examples, i.e.
ceil(N / batch_size) steps.
"""
import math
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from .layers import softmax_cross_entropy
from .optim import SGD
from .recording import PRE_BINS, Recorder


def steps_per_epoch(n, batch_size, drop_last=False):
    """Number of updates in one pass over n examples."""
    return n // batch_size if drop_last else math.ceil(n / batch_size)


def check_batch_size(n, batch_size):
    """Raise ValueError unless batch_size is an int from 1 to n."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or not 1 <= batch_size <= n:
        raise ValueError(f"batch_size must be an int from 1 to N={n}, got {batch_size!r}")


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
    diverged: dict = None                               # {"step", "reason"} if training blew up

    @property
    def num_steps(self):
        return len(self.loss)

    def message(self):
        """One line a lesson can print under a plot."""
        if self.diverged:
            return f"training diverged at step {self.diverged['step']}: {self.diverged['reason']}"
        acc = f", test accuracy {self.test_acc[-1]:.1%}" if self.test_acc else ""
        return f"trained {self.num_steps} steps, final loss {self.loss[-1]:.3f}{acc}"


@contextmanager
def frozen_running_stats(model):
    """Forward passes inside this block do not update any batch-norm running statistics."""
    flags = [bn.update_running_stats for bn in model.batchnorms]
    for bn in model.batchnorms:
        bn.update_running_stats = False
    try:
        yield model
    finally:
        for bn, flag in zip(model.batchnorms, flags):
            bn.update_running_stats = flag


def train(model, X, y, *, batch_size, lr, num_steps=None, num_epochs=None, momentum=0.0,
          seed=0, X_test=None, y_test=None, eval_every=100, record_every=None, probe=None,
          pre_bins=None, progress=False, callback=None, drop_last=False):
    """Train `model` with mini-batch SGD on X (N, D), y (N,); return a `History`.

    Stop after num_steps updates or num_epochs passes (give one). momentum is SGD's.
    Accuracy (eval mode) is measured every `eval_every` steps on up to 1000 training examples
    and on X_test. With record_every, per-layer activation statistics are recorded on `probe`
    (a fixed (P, D) batch, default the first 500 of X) in training mode, with running
    statistics frozen, at step 0 and every record_every steps; pre_bins (evenly spaced) replace
    the default histogram bins of the inputs to the nonlinearities.
    drop_last=True skips each epoch's last, smaller batch (every batch has batch_size examples).
    callback(step, model, loss), if given, runs after every update (step = updates done), for
    experiments that watch each step (e.g. every batch's statistics).
    A non-finite loss stops training and is reported in History.diverged, with no warnings.
    """
    if (num_steps is None) == (num_epochs is None):
        raise ValueError("give exactly one of num_steps and num_epochs")
    n = len(X)
    if len(y) != n:
        raise ValueError(f"X and y must have the same length, got {n} and {len(y)}")
    check_batch_size(n, batch_size)
    # a trailing batch of one cannot be batch-normalized in training mode; skip it
    drop_last = drop_last or (bool(model.batchnorms) and n % batch_size == 1)
    total = num_steps if num_steps is not None else \
        num_epochs * steps_per_epoch(n, batch_size, drop_last)
    rng = np.random.default_rng(seed)
    opt = SGD(model.parameters(), lr=lr, momentum=momentum)
    history = History(config=dict(batch_size=batch_size, lr=lr, momentum=momentum, seed=seed,
                                  num_steps=total, n=n))
    recorder = None
    if record_every:
        recorder = Recorder(model, X[:500] if probe is None else probe,
                            PRE_BINS if pre_bins is None else pre_bins)
    bar = progress_bar(total, progress)
    model.train()
    step, epoch, seen = 0, 0, 0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        while step < total:
            for idx in iterate_minibatches(n, batch_size, rng, drop_last):
                if step >= total:
                    break
                if recorder is not None and step % record_every == 0:
                    with frozen_running_stats(model):
                        recorder.record(step)
                if eval_every and step % eval_every == 0:
                    _evaluate(model, X, y, X_test, y_test, step, history)
                loss, dlogits = softmax_cross_entropy(model.forward(X[idx]), y[idx])
                if not np.isfinite(loss):
                    history.diverged = {"step": step, "reason": f"the loss became {loss}"}
                    break
                model.backward(dlogits, input_grad=False)
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
            if history.diverged:
                break
            epoch += 1
        if not history.diverged:
            if recorder is not None:
                with frozen_running_stats(model):
                    recorder.record(step)
            if eval_every:
                _evaluate(model, X, y, X_test, y_test, step, history)
    bar.close()
    if recorder is not None:
        history.activations = recorder.result()
    return history


def _evaluate(model, X, y, X_test, y_test, step, history):
    history.eval_steps.append(step)
    history.train_acc.append(model.accuracy(X[:1000], y[:1000]))
    if X_test is not None:
        history.test_acc.append(model.accuracy(X_test, y_test))


class _NoBar:
    def update(self, k):
        pass

    def close(self):
        pass


def progress_bar(total, progress):
    """A notebook-friendly tqdm bar when progress is true (a str becomes its label)."""
    if not progress:
        return _NoBar()
    from tqdm.auto import tqdm
    return tqdm(total=total, desc=progress if isinstance(progress, str) else "training",
                leave=False)
