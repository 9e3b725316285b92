import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _single_thread():
    # The suite shares a small machine; tiny networks gain nothing from more threads.
    torch.set_num_threads(1)
