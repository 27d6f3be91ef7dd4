"""Fixtures every test file shares: one BLAS thread, matplotlib's Agg backend, the MNIST arrays,
figures closed after each test, and slider panels that draw a position only when visited."""
import os

# Before numpy or matplotlib load: one BLAS thread (our matrices are small; two threads only
# contend), and the Agg backend (no display; the same pictures on every machine).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ["MPLBACKEND"] = "Agg"

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives JupyterLab in a real browser (slow)")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def mnist():
    """(X_train (4000, 784), y_train, X_test (1000, 784), y_test), loaded once per run.
    Tests must not modify the arrays (slice or copy them)."""
    from helpers import load_mnist
    arrays = load_mnist()
    for a in arrays:
        a.setflags(write=False)
    return arrays


@pytest.fixture(autouse=True)
def close_figures():
    """Every figure a test opens is closed after it."""
    yield
    plt.close("all")


@pytest.fixture(autouse=True)
def draw_slider_positions_on_visit(monkeypatch):
    """Panels built in tests draw a position when a test visits it, not every position up
    front (tests/test_widgets.py checks the pre-drawn path)."""
    import helpers.display.panels
    monkeypatch.setattr(helpers.display.panels, "PRERENDER", False)


# The browser tests' Chromium (tests/test_browser.py: the lessons in JupyterLab;
# tests/test_site.py: the website), found or installed by tools/ensure_chromium.py.
@pytest.fixture(scope="module")
def chromium():
    from browser_support import load_ensure_chromium
    ensure = load_ensure_chromium()
    path = ensure.find_chromium()
    if path is None:
        if ensure.on_ci():
            pytest.fail(ensure.missing_reason() + " (CI is set, so this is a failure)")
        pytest.skip(ensure.missing_reason())
    return path


@pytest.fixture(scope="module")
def browser(chromium):
    from browser_support import CHROMIUM_ARGS
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
