"""Fixtures shared by the unit tests."""
import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tests use one thread: on a busy 2-core machine, 2 torch threads can run 100x slower."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
