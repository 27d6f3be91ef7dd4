import numpy as np
import pytest


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives JupyterLab in a real browser (slow)")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
