import os

# Before numpy loads: one BLAS thread (our matrices are small; two threads only contend).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives JupyterLab in a real browser (slow)")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def draw_slider_positions_on_visit(monkeypatch):
    """Panels built in tests draw a position when a test visits it, not every position up
    front (tests/test_widgets.py checks the pre-drawn path)."""
    import helpers.widgets
    monkeypatch.setattr(helpers.widgets, "PRERENDER", False)
