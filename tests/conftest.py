"""Fixtures shared by the test modules."""

import pytest
import torch

from spikeloc import runtime


@pytest.fixture
def one_thread():
    """Train on one torch thread (the test machine's cores are shared); the thread count is restored after."""
    threads = torch.get_num_threads()
    runtime.configure(1)
    yield
    torch.set_num_threads(threads)
