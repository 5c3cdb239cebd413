"""Shared test settings."""

import signal
import threading

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Run each test module's tiny networks on one torch thread.

    On 2 shared cores a second thread spin-waits and makes small fits many
    times slower (measured: 44.75 s -> 0.77 s for one test under load); one
    thread also makes measured accuracies independent of the core count.
    """
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


@pytest.fixture(scope="module")
def digits():
    """sklearn digits scaled to [0, 1], as float32 rows with int labels."""
    X, y = load_digits(return_X_y=True)
    return (X / 16.0).astype(np.float32), y


# ----------------------------------------------------------------- Ctrl-C
@pytest.fixture
def sigint():
    """Python's default SIGINT handler for the test, restored afterwards.

    A shell starts a background job (``make test &``) with SIGINT ignored; a
    real Ctrl-C test would then never be interrupted. This fixture makes the
    test independent of how the process was started.
    """
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals are delivered to the main thread only")
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "compile: waits for torch.compile (deselect with -m 'not compile')"
    )
