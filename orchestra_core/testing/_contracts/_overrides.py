"""The guard every contract ends with: inherited tests may not be deleted or silently
overridden (only replaced under ``@pytest.mark.xfail(reason=...)``)."""

from __future__ import annotations

import pytest

__all__ = ("guard_overrides",)

def guard_overrides(instance: object, base: type) -> None:
    """Fail when a subclass deleted or silently overrode one of *base*'s tests."""
    for name, base_attr in vars(base).items():
        if not name.startswith("test_") or name == "test_no_overrides_DO_NOT_OVERRIDE":
            continue
        mine = getattr(type(instance), name, None)
        if mine is None:
            pytest.fail(f"{name} was deleted from the contract")
        if mine is not base_attr:
            marks = getattr(mine, "pytestmark", [])
            if not any(m.name == "xfail" and m.kwargs.get("reason") for m in marks):
                pytest.fail(f"{name} is overridden without @pytest.mark.xfail(reason=...)")
