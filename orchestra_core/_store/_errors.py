"""The store's error (re-exported as ``orchestra_core.StoreError``)."""

from __future__ import annotations

from .._errors import OrchestraError

__all__ = ("StoreError",)


class StoreError(OrchestraError):
    """The store cannot be opened or does not hold what was asked for."""
