"""Fixtures of the contract suite: each of the six estimators, and real Ctrl-C.

The estimators, their data and the Ctrl-C callback live in ``contract_cases``.
"""

import signal
import threading

import pytest
from contract_cases import cases


@pytest.fixture(params=cases())
def case(request):
    """Each of the six estimators."""
    return request.param


@pytest.fixture(params=cases(where=lambda c: c.few_shot))
def few_shot_case(request):
    """The estimators with ``adapt``."""
    return request.param


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
