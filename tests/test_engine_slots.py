"""The engine's slots (max_concurrency, integration limits): first come, first served; a
waiter cancelled as its slot is handed over passes it on."""

from __future__ import annotations

import anyio
import pytest

from orchestra_core._engine._slots import Slots


def test_slots_are_handed_out_in_order_and_given_back():
    order: list[int] = []

    async def main() -> None:
        slots = Slots(2)
        slots.acquire_nowait()
        slots.acquire_nowait()
        with pytest.raises(anyio.WouldBlock):
            slots.acquire_nowait()
        assert slots.borrowed_tokens == 2

        async def waiter(i: int) -> None:
            await slots.acquire()
            order.append(i)

        async with anyio.create_task_group() as tg:
            for i in range(3):
                tg.start_soon(waiter, i)
                await anyio.wait_all_tasks_blocked()
            with pytest.raises(anyio.WouldBlock):  # others wait: no overtaking
                slots.acquire_nowait()
            slots.release()
            await anyio.wait_all_tasks_blocked()
            assert order == [0]
            slots.release()
            slots.release()
        assert order == [0, 1, 2]
        assert slots.borrowed_tokens == 2
        for _ in range(2):
            slots.release()
        assert slots.borrowed_tokens == 0

    anyio.run(main)


def test_a_cancelled_waiter_leaves_the_queue_or_passes_its_slot_on():
    async def main() -> None:
        with anyio.fail_after(5):
            slots = Slots(1)
            slots.acquire_nowait()
            got: list[str] = []

            async def waiter(name: str, scope: anyio.CancelScope) -> None:
                with scope:
                    await slots.acquire()
                    got.append(name)

            first, second = anyio.CancelScope(), anyio.CancelScope()
            async with anyio.create_task_group() as tg:
                tg.start_soon(waiter, "first", first)
                await anyio.wait_all_tasks_blocked()
                tg.start_soon(waiter, "second", second)
                await anyio.wait_all_tasks_blocked()
                first.cancel()  # cancelled while waiting...
                slots.release()  # ...and handed the slot before it runs: "second" gets it
            assert got == ["second"]
            assert slots.borrowed_tokens == 1
            slots.release()
            third = anyio.CancelScope()
            slots.acquire_nowait()
            async with anyio.create_task_group() as tg:
                tg.start_soon(waiter, "third", third)
                await anyio.wait_all_tasks_blocked()
                third.cancel()  # leaves the queue
            slots.release()
            assert slots.borrowed_tokens == 0
            slots.acquire_nowait()

    anyio.run(main)


def test_a_limit_needs_a_slot():
    with pytest.raises(ValueError):
        Slots(0)
