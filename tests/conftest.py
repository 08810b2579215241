import os

import pytest

from orchestra_core import Orchestra


@pytest.fixture
def host() -> Orchestra:
    """A host with only the built-in integrations."""
    return Orchestra(load_entrypoints=False)


@pytest.fixture(autouse=True, scope="session")
def _own_host_lock_dir(tmp_path_factory):
    """``blocking: true`` processes exclude every worker sharing ORCHESTRA_LOCK_DIR: give this
    test session its own, so other sessions on the machine do not hold it against us."""
    old = os.environ.get("ORCHESTRA_LOCK_DIR")
    os.environ["ORCHESTRA_LOCK_DIR"] = str(tmp_path_factory.mktemp("locks"))
    yield
    if old is None:
        os.environ.pop("ORCHESTRA_LOCK_DIR", None)
    else:
        os.environ["ORCHESTRA_LOCK_DIR"] = old
