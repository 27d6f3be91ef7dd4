"""The course's one progress bar: a bar while the work runs, one line of text when it is done.

In a notebook the bar is an ipywidgets progress bar; when the work ends it is replaced, in
place, by a line such as "training runs: 15/15 done in 3.2 s", so a saved notebook never shows
a bar stopped short of 100% (and GitHub, which cannot draw widgets, shows the line). Outside a
notebook (tests, scripts) it counts silently.
"""
import time

import numpy as np


def _in_notebook():
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


class ProgressBar:
    """Counts `total` items of work under `label`: call update(k) as they finish, then close().
    Iterating it over `work` does both."""

    def __init__(self, total, label, work=None):
        self.total, self.label, self.work = int(total), label, work
        self.done, self.start, self._shown = 0, time.perf_counter(), 0.0
        self._bar = self._handle = None
        if label and _in_notebook():
            import ipywidgets
            from IPython.display import display
            self._bar = ipywidgets.IntProgress(value=0, max=max(self.total, 1),
                                               description=str(label),
                                               style={"description_width": "initial"})
            self._handle = display(self._bar, display_id=True)

    def update(self, k=1):
        self.done += k
        now = time.perf_counter()
        if self._bar is not None and (now - self._shown > 0.1 or self.done >= self.total):
            self._bar.value, self._shown = self.done, now

    def close(self):
        if self._bar is None:
            return
        seconds = time.perf_counter() - self.start
        self._bar.close()
        self._handle.update({"text/plain": f"{self.label}: {self.done}/{self.total} done in "
                                           f"{seconds:.1f} s"}, raw=True)
        self._bar = None

    def __iter__(self):
        try:
            for item in self.work:
                yield item
                self.update(1)
        finally:
            self.close()


def progress_bar(work, label="working"):
    """A progress bar over `work`: an iterable (iterate the bar) or a number of items (call
    .update(k) and .close()). label: the bar's text; False or None for no bar at all."""
    if isinstance(work, (int, np.integer)):
        return ProgressBar(work, label)
    work = list(work)
    return ProgressBar(len(work), label, work)
