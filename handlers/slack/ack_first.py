"""Ack first, then work: Slack gets its answer the moment a listener calls `ack()`.

Bolt has two modes. With `process_before_response=False` it starts each listener as a task and
then polls every 10 ms for the listener's `ack()` — fifty requests in flight mean five thousand
wake-ups a second, and every answer waits for a poll. With `process_before_response=True` it
awaits the whole listener before answering, so the work after `ack()` delays the answer.

calbot runs Bolt in the second mode and changes what "the listener" is: each registered
listener is run as a task, and Bolt is given back control as soon as that task acks (or ends).
The rest of the listener carries on in the background, one listener at a time (a single work
slot), after waiting until no other Slack request is being answered (at most a second): under a
burst the answers Slack waits for come before the rendering that follows them, and a new
request never queues behind more than one piece of that rendering.

Arguments are untouched: Bolt still injects exactly the names each listener asks for.
"""

from __future__ import annotations

import asyncio
import logging

from slack_bolt.context.ack.async_ack import AsyncAck

from bot.errors import report_failure

log = logging.getLogger("calbot.slack")

MAX_DEFER_SECONDS = 1.0


class QuietGate:
    """Answers first: the work that follows acks runs one at a time, so an incoming request only
    ever waits behind one piece of it, never behind a burst; and it starts only once no Slack
    request is being answered (or after a second at most)."""

    def __init__(self) -> None:
        self.in_flight = 0
        self._quiet = asyncio.Event()
        self._quiet.set()
        self.slot = asyncio.Semaphore(1)

    def enter(self) -> None:
        self.in_flight += 1
        self._quiet.clear()

    def leave(self) -> None:
        self.in_flight = max(0, self.in_flight - 1)
        if self.in_flight == 0:
            self._quiet.set()

    async def settle(self, max_wait: float = MAX_DEFER_SECONDS) -> None:
        if self._quiet.is_set():
            return
        try:
            await asyncio.wait_for(self._quiet.wait(), timeout=max_wait)
        except asyncio.TimeoutError:
            pass


class FirstAck(AsyncAck):
    """Bolt's ack, which also says "acked" at once; the listener then waits for the work slot."""

    def __init__(self, gate: QuietGate) -> None:
        super().__init__()
        self.acked = asyncio.Event()
        self.listener_running = False   # only a listener still at work waits for the slot
        self.holds_slot = False
        self._gate = gate

    async def __call__(self, *args, **kwargs):
        response = await super().__call__(*args, **kwargs)
        self.acked.set()
        if self.listener_running and not self.holds_slot:
            await self._gate.settle()
            await self._gate.slot.acquire()
            if self.listener_running:
                self.holds_slot = True
            else:  # it finished while waiting (cancelled): give the slot straight back
                self._gate.slot.release()
        return response

    def listener_done(self) -> None:
        self.listener_running = False
        if self.holds_slot:
            self.holds_slot = False
            self._gate.slot.release()


def install(app, gate: QuietGate) -> None:
    """Give every request a `FirstAck` and run every registered listener ack-first.

    Call after all listeners are registered (the app must use process_before_response=True)."""

    @app.middleware
    async def first_ack(context, next):
        context["ack"] = FirstAck(gate)
        return await next()

    for listener in app._async_listeners:  # Bolt keeps no public list of its listeners
        _run_ack_first(listener)


def _run_ack_first(listener) -> None:
    original = listener.ack_function
    names = list(listener.arg_names)
    wants_ack = "ack" in names

    async def ack_first(**kwargs):
        ack = kwargs["ack"]
        own = kwargs if wants_ack else {k: v for k, v in kwargs.items() if k != "ack"}
        if not isinstance(ack, FirstAck):
            return await original(**own)
        ack.listener_running = True
        work = asyncio.ensure_future(original(**own))
        work.add_done_callback(lambda _: ack.listener_done())
        acked = asyncio.ensure_future(ack.acked.wait())
        await asyncio.wait({work, acked}, return_when=asyncio.FIRST_COMPLETED)
        if work.done():
            acked.cancel()
            return work.result()  # failed before acking: Bolt's error handler answers Slack
        work.add_done_callback(_report_late_failure)
        return None

    listener.ack_function = ack_first
    listener.arg_names = names if wants_ack else [*names, "ack"]


def _report_late_failure(task: asyncio.Future) -> None:
    """A listener failing after its ack has no one to answer to: log it with a reference id."""
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        report_failure(exc, where="Slack listener after ack")
