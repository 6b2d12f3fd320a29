"""Every test runs on one torch thread, as the command line and the study workers do: torch's default of one
thread per core collapses when the cores are busy (an IPD epoch went from 4.8 s to 83 s on our loaded 2-core VM)."""

import torch


def pytest_configure(config):
    torch.set_num_threads(1)
