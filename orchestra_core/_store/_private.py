"""Keeping the store private: its file readable by its owner only, its URL shown without the
password."""

from __future__ import annotations

import contextlib
import os
from urllib.parse import quote

from .._redaction import URL_PASSWORD

__all__ = ("FILE_MODE", "create_private", "hide_password")

#: The mode a new SQLite store file is created with (as the key file): owner only. SQLite
#: gives its ``-wal`` and ``-shm`` files the mode of the database file.
FILE_MODE = 0o600



def create_private(path: str) -> None:
    """Create the store file *path* with mode 0600 if it does not exist yet (an existing
    file keeps its mode: the operator may have chosen it)."""
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        os.close(fd)


def hide_password(url: str, text: str | None = None) -> str:
    """*text* (default: *url* itself) with the password of store URL *url* replaced by
    ``***``: what error messages and logs show of a store URL."""
    password = None
    try:
        import sqlalchemy as sa

        password = sa.engine.make_url(url).password
    except Exception:  # a URL that does not parse: fall back to the pattern
        match = URL_PASSWORD.search(url)
        password = match.group("pw") if match else None
    shown = url if text is None else text
    if password:
        for form in {str(password), quote(str(password), safe="")}:
            shown = shown.replace(form, "***")
    return URL_PASSWORD.sub(lambda m: m.group("head") + "***@", shown) if text is None else shown
