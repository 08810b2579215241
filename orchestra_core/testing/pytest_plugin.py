"""Orchestra's pytest plugin (entry point ``pytest11``): fixtures for plugin authors.

Inert until a test asks for one of its ``orchestra_``-prefixed fixtures; no autouse fixtures.
Disable it with ``-p no:orchestra``. Imports of the core are deferred to the fixtures.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


@pytest.fixture
def orchestra_host_factory() -> Callable[..., Any]:
    """Build isolated hosts: ``orchestra_host_factory(plugin, load_entrypoints=False)``."""
    from . import make_host

    return make_host


@pytest.fixture
def orchestra_host() -> Any:
    """A host with the built-ins and every installed plugin (entry points loaded)."""
    from .._host import Orchestra

    return Orchestra()


@pytest.fixture
def orchestra_clock() -> Any:
    """A :class:`~orchestra_core.testing.FakeClock` starting at 2026-01-01T00:00:00Z."""
    from . import FakeClock

    return FakeClock()
