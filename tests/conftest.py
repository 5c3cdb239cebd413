"""Shared test settings."""

import pytest
import torch


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
