import pytest

from orchestra_core import Orchestra


@pytest.fixture
def host() -> Orchestra:
    """A host with only the built-in integrations."""
    return Orchestra(load_entrypoints=False)
