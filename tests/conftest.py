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


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh ``ORCHESTRA_HOME`` (the test's ``tmp_path``) as the working directory, with no
    store, key or key file named in the environment: what a user starting out has."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ORCHESTRA_HOME", str(tmp_path))
    for var in ("ORCHESTRA_DB", "ORCHESTRA_SECRET_KEY", "ORCHESTRA_SECRET_KEY_FILE"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path
