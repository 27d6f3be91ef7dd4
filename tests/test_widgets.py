"""The shared widget panel: sliders redraw real runs, and draw on figures pyplot does not track
(JupyterLab's subshell threads flush pyplot's figures while a callback draws: blank plots)."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from helpers import make_mlp, train  # noqa: E402
from helpers.widgets import activation_panel, run_grid  # noqa: E402


def _runs():
    rng = np.random.default_rng(0)
    X, y = rng.random((200, 20)), rng.integers(0, 3, size=200)

    def run(batch_size, momentum):
        out = {"plain": train(make_mlp((20, 8, 8, 3), seed=0), X, y, batch_size=batch_size,
                              lr=0.5, momentum=momentum, num_steps=20, record_every=10,
                              eval_every=0)}
        out["batch norm"] = ("batch norm needs a batch of 2 or more" if batch_size == 1 else
                             train(make_mlp((20, 8, 8, 3), batchnorm=True, seed=0), X, y,
                                   batch_size=batch_size, lr=0.5, momentum=momentum,
                                   num_steps=20, record_every=10, eval_every=0))
        return out
    return run_grid(run, (1, 50), (0.0, 0.9), progress=False)


def test_sliders_redraw_without_pyplot_figures(capsys):
    plt.close("all")
    panel = activation_panel(_runs(), (1, 50), (0.0, 0.9), value=(50, 0.0))
    batch_size, momentum = panel.children[:-1]
    first = panel.result.axes[0].get_lines()[-1].get_ydata().copy()
    momentum.value = 0.9
    second = panel.result.axes[0].get_lines()[-1].get_ydata()
    assert not np.array_equal(first, second)
    batch_size.value = 1                       # the extreme: a message, no exception
    assert "batch norm needs a batch of 2 or more" in capsys.readouterr().out
    texts = [t.get_text() for ax in panel.result.axes for t in ax.texts]
    assert "batch norm needs a batch of 2 or more" in texts
    assert plt.get_fignums() == []             # nothing for a subshell thread to flush
