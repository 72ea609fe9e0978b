"""Fixtures every test module can use without importing them.

Shared helpers (not fixtures) live in the `tests` package: `from tests._engine_toys import ToyVideos`.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest
import torch

# What the code caches under $ACTIONLAB_CACHE_DIR (scans, decoded frame counts, frame caches) goes to a folder of
# this test session, not the user's ~/.cache (subprocesses inherit it)
if "ACTIONLAB_CACHE_DIR" not in os.environ:
    os.environ["ACTIONLAB_CACHE_DIR"] = tempfile.mkdtemp(prefix="actionlab-test-cache-")
    atexit.register(shutil.rmtree, os.environ["ACTIONLAB_CACHE_DIR"], True)


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """One intra-op torch thread for a module's tests (and its module-scoped fixtures).

    Bit-exact comparisons need the same thread count in every run, and tiny models on a shared 2-core
    machine are many times slower with OpenMP's spinning threads; the count in use before is restored.
    Use it with `pytestmark = pytest.mark.usefixtures("one_thread")` or as a test's argument.
    """
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)
