"""Fixtures of the contract suite: each of the six estimators.

The estimators, their data and the Ctrl-C callback live in ``contract_cases``;
the ``sigint`` fixture (Python's default SIGINT handler) is in the top-level
``tests/conftest.py``.
"""

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
