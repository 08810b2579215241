"""``DestinationContract``: the standard tests of a destination type.

Subclass it and give three fixtures::

    class TestFileDrop(DestinationContract):
        files = True                       # the destination reads delivery.files()

        @pytest.fixture
        def make_destination(self, tmp_path):
            def make(case="ok"):           # ok, refused_auth, unreachable,
                ...                        # permission_denied, full_disk
                return FileDrop(FileDropOptions(directory=str(tmp_path)))  # or pytest.skip
            return make

        @pytest.fixture
        def delivered(self, tmp_path):
            def rows():                    # every row the receiver holds, as str tuples
                ...
            return rows

        @pytest.fixture
        def visible(self, tmp_path):       # file destinations: names a receiver can see
            return lambda: sorted(p.name for p in tmp_path.iterdir())

The tests build deliveries with :func:`make_delivery` (rows in memory, streamed in small
batches, optionally failing after some batches as a killed process would stop) and check:
every row delivered once; a delivery that stopped half-way and is delivered again with the
same key leaves no duplicate and no missing row; no partial file is visible; refused auth,
an unreachable host, permission denied and a full disk give one ``DeliveryFailed`` naming
the destination.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest

from ..._delivery.streams import RowStream, batches, files
from ..._delivery.templates import TemplateSpec
from ..._delivery.values import RunValues
from ..._errors import DeliveryFailed
from ..._models import Delivery

__all__ = ("DestinationContract", "MemoryCheckpoints", "make_delivery")

COLUMNS = ("id", "name", "email")


def sample_rows(n: int = 57) -> list[tuple[Any, ...]]:
    """*n* rows of (id, name, email)."""
    return [(i, f"name {i}", f"user{i}@example.com") for i in range(1, n + 1)]


class MemoryCheckpoints:
    """Checkpoints kept in memory (the store keeps them in a real run)."""

    def __init__(self) -> None:
        self.parts: dict[str, int] = {}

    async def done(self, key: str) -> bool:
        """Whether *key* was marked."""
        return key in self.parts

    async def mark(self, key: str, *, rows: int = 0, size: int = 0,
                   checksum: str | None = None) -> None:
        """Mark *key*."""
        self.parts[key] = rows


class Killed(Exception):
    """The source stopped as a killed process would."""


def make_delivery(rows: Sequence[tuple[Any, ...]], *, key: str = "run-1/task", name: str =
                  "contract", columns: tuple[str, ...] = COLUMNS, batch_size: int = 10,
                  fail_after: int | None = None, checkpoints: Any = None,
                  template: TemplateSpec | None = None, secrets: Any = None) -> Delivery:
    """A :class:`Delivery` of *rows*, streamed in batches of *batch_size*; with
    *fail_after*, the source raises :class:`Killed` after that many batches."""
    template = template or TemplateSpec(header=False, max_rows_per_file=20)
    run = RunValues(id="run-1", scheduled_at=datetime(2026, 1, 2, tzinfo=UTC))

    async def source() -> AsyncIterator[tuple[tuple[str, ...], list[tuple[Any, ...]]]]:
        for n, start in enumerate(range(0, max(len(rows), 1), batch_size)):
            if fail_after is not None and n >= fail_after:
                raise Killed("killed")
            yield columns, list(rows[start:start + batch_size])

    stream = RowStream(source(), template)
    return Delivery(destination=name, options=None, name=name, key=key, columns=columns,
                    source_batches=lambda: batches(stream, key),
                    source_files=lambda: files(stream, key, name, run, lambda *a, **k: None),
                    secrets=secrets or {}, checkpoints=checkpoints or MemoryCheckpoints())


def _as_text(rows: Sequence[Sequence[Any]]) -> list[tuple[str, ...]]:
    return sorted(tuple(str(v) for v in r) for r in rows)


class DestinationContract:
    """The standard tests of a destination (see the module documentation)."""

    #: whether the destination reads ``delivery.files()`` (else ``delivery.batches()``)
    files: ClassVar[bool] = False

    @pytest.fixture
    def visible(self) -> Any:
        """File destinations: the names a receiver can see now."""
        return lambda: []

    async def test_delivers_every_row_once(self, make_destination: Any, delivered: Any) -> None:
        rows = sample_rows()
        receipt = await make_destination("ok").deliver(make_delivery(rows))
        assert receipt.delivered == len(rows)
        assert _as_text(delivered()) == _as_text(rows)

    async def test_resume_without_duplicates(self, make_destination: Any,
                                             delivered: Any) -> None:
        rows = sample_rows()
        checkpoints = MemoryCheckpoints()
        with pytest.raises(Killed):
            await make_destination("ok").deliver(
                make_delivery(rows, fail_after=3, checkpoints=checkpoints))
        await make_destination("ok").deliver(make_delivery(rows, checkpoints=checkpoints))
        assert _as_text(delivered()) == _as_text(rows)

    async def test_no_partial_file_visible(self, make_destination: Any, visible: Any) -> None:
        if not self.files:
            pytest.skip("a record destination: nothing is a file")
        before = set(visible())
        with pytest.raises(Killed):
            await make_destination("ok").deliver(make_delivery(sample_rows(), fail_after=1))
        assert set(visible()) == before, "a partial file is visible"

    @pytest.mark.parametrize("case", ["refused_auth", "unreachable", "permission_denied",
                                      "full_disk"])
    async def test_clear_error(self, make_destination: Any, case: str) -> None:
        destination = make_destination(case)
        with pytest.raises(DeliveryFailed) as info:
            await destination.deliver(make_delivery(sample_rows()))
        message = str(info.value)
        assert "destination" in message and "Traceback" not in message
        words = {"refused_auth": "auth", "unreachable": "unreachable",
                 "permission_denied": "permission", "full_disk": "full"}
        assert words[case] in message.lower(), message
