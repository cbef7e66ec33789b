"""Storage-suite fixtures: the real servers (servers.py) and one seeded bucket per test (targets.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

try:
    from tests.storage.servers import azurite_server, free_port, gcs_server, s3_server  # noqa: F401
    from tests.storage.targets import ALL_PROVIDERS, Target, make_target
except ImportError:  # the repository root is not on sys.path: pytest put this folder there
    from servers import azurite_server, free_port, gcs_server, s3_server  # noqa: F401
    from targets import ALL_PROVIDERS, Target, make_target


@pytest.fixture(params=ALL_PROVIDERS)
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    """A fresh bucket of SAMPLE objects on the provider's server (one per test)."""
    yield make_target(request.param, request, tmp_path)


@pytest.fixture
def new_target(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], Target]:
    """``new_target(provider)``: a fresh seeded bucket for a provider chosen by the test."""
    return lambda provider: make_target(provider, request, tmp_path)


@pytest.fixture
def unused_port() -> int:
    """A 127.0.0.1 port nothing listens on (connection refused)."""
    return free_port()
