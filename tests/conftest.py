"""Shared fixtures: one real marimo server per test module, and kernels pointed at it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from support import MarimoServer, start_kernel, stop_kernel  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A marimo notebook server with one browserless session, its cells run once."""
    srv = MarimoServer.start(tmp_path_factory.mktemp("marimo"))
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def kernel_pair(server):
    """(KernelManager, client) of a marimo-pair kernel that auto-selects `server`'s notebook."""
    km, kc = start_kernel({"XDG_STATE_HOME": str(server.state_home)})
    try:
        yield km, kc
    finally:
        stop_kernel(km, kc)


@pytest.fixture(scope="module")
def kernel(kernel_pair):
    """The client of `kernel_pair`."""
    return kernel_pair[1]
