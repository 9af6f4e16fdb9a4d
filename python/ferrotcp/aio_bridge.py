"""How an asyncio event loop follows a :class:`~ferrotcp.stack.Stack` running on its own
thread.

The stack's thread calls a listener after every wake-up; the listener schedules one poll on
the loop (``call_soon_threadsafe``, at most one pending at a time, so a busy stack cannot
flood the loop). The poll takes the stack's lock once, asks every member (transports,
servers, connects in progress) what changed for it, and then, outside the lock, runs the
callbacks the members returned: protocol callbacks must never run under the stack's lock,
since they call back into the stack.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ferrotcp._core import Endpoint
    from ferrotcp.stack import Stack

#: What a member's poll returns: a callback to run on the loop, outside the stack's lock.
Action = Callable[[], None] | None


class Member(Protocol):
    """Something on the loop that waits for the stack."""

    def poll_locked(self, ep: Endpoint, now: int) -> Action:
        """Under the stack's lock: take what arrived, push what is queued, and return the
        callback that tells the loop about it (None if nothing happened)."""
        ...

    def fail(self, exc: OSError) -> None:
        """The stack itself failed or was closed: on the loop, end with ``exc``."""
        ...


class Bridge:
    """Wakes one event loop for one stack and polls its members there."""

    def __init__(self, stack: Stack, loop: asyncio.AbstractEventLoop) -> None:
        self.stack = stack
        self.loop = loop
        self._members: dict[Member, None] = {}
        # Set by the stack's thread, cleared by the loop's: the worst race costs one extra
        # (empty) poll, never a lost one, because the flag is cleared before polling.
        self._scheduled = False
        self._listening = False

    def add(self, member: Member) -> None:
        self._members[member] = None
        if not self._listening:
            self._listening = True
            self.stack.add_listener(self._wake)
        self.poll_soon()

    def discard(self, member: Member) -> None:
        self._members.pop(member, None)
        if not self._members and self._listening:
            # An idle bridge must not wake its loop twice a second for ever.
            self._listening = False
            self.stack.remove_listener(self._wake)
            _forget(self)

    def poll_soon(self) -> None:
        """Poll on the loop's next iteration (from the loop's thread)."""
        if not self._scheduled:
            self._scheduled = True
            self.loop.call_soon(self._poll)

    def _wake(self) -> None:
        # The stack's thread, under its lock: schedule, never poll here.
        if self._scheduled:
            return
        self._scheduled = True
        try:
            self.loop.call_soon_threadsafe(self._poll)
        except RuntimeError:
            self._scheduled = False  # the loop is closed: nobody is left to tell

    def _poll(self) -> None:
        self._scheduled = False
        members = list(self._members)
        if not members:
            return
        try:
            actions = self.stack.call(lambda ep, now: [m.poll_locked(ep, now) for m in members])
        except OSError as e:
            for m in members:
                self.discard(m)
                m.fail(e)
            return
        for action in actions:
            if action is not None:
                action()


_registry_lock = threading.Lock()
_registry: dict[tuple[int, int], Bridge] = {}


def bridge_for(stack: Stack, loop: asyncio.AbstractEventLoop) -> Bridge:
    """The bridge between ``stack`` and ``loop`` (one per pair, made on first use). The
    registry holds the bridge, and the bridge both objects, so the ids stay valid."""
    with _registry_lock:
        key = (id(stack), id(loop))
        b = _registry.get(key)
        if b is None:
            b = _registry[key] = Bridge(stack, loop)
        return b


def _forget(bridge: Bridge) -> None:
    with _registry_lock:
        key = (id(bridge.stack), id(bridge.loop))
        if _registry.get(key) is bridge:
            del _registry[key]
