"""How the store serializes its JSON columns: ``json.dumps``, except for a value already
serialized (:class:`RawJSON`), written as it is. A run's definition goes into two rows (the
pipeline's and the run's); it is serialized once."""

from __future__ import annotations

import json
from typing import Any

__all__ = ("RawJSON", "dumps")


class RawJSON(str):
    """JSON text to store as it is in a JSON column."""

    __slots__ = ()

    @classmethod
    def of(cls, value: Any) -> RawJSON:
        """*value* serialized."""
        return cls(json.dumps(value))


def dumps(value: Any) -> str:
    """The store's JSON serializer (``json_serializer`` of its SQLAlchemy engine)."""
    if type(value) is RawJSON:
        return value
    return json.dumps(value)
