from __future__ import annotations

import pytest

from epfpga.data.datasets import Dataset, load_dataset


@pytest.fixture(scope="session")
def mnist() -> Dataset:
    """Real MNIST from the cache (the README's test command runs `epfpga data fetch mnist`)."""
    return load_dataset("mnist")
