"""Ack first: Bolt answers Slack as soon as a listener acks; the rest runs after, one at a time."""

import asyncio

from handlers.slack.ack_first import FirstAck, QuietGate, _run_ack_first


class FakeListener:
    def __init__(self, function, arg_names):
        self.ack_function = function
        self.arg_names = arg_names


async def test_returns_at_ack_and_the_work_continues_after():
    gate = QuietGate()
    finished = asyncio.Event()

    async def listener(ack, body):
        await ack()
        await asyncio.sleep(0.05)
        finished.set()

    wrapped = FakeListener(listener, ["ack", "body"])
    _run_ack_first(wrapped)
    ack = FirstAck(gate)
    await asyncio.wait_for(wrapped.ack_function(ack=ack, body={}), timeout=0.04)
    assert ack.response is not None and not finished.is_set()
    await asyncio.wait_for(finished.wait(), timeout=1)


async def test_a_listener_that_does_not_ask_for_ack_still_gets_its_own_arguments():
    seen = {}

    async def listener(body):
        seen["body"] = body

    wrapped = FakeListener(listener, ["body"])
    _run_ack_first(wrapped)
    assert "ack" in wrapped.arg_names
    await wrapped.ack_function(ack=FirstAck(QuietGate()), body={"x": 1})
    assert seen == {"body": {"x": 1}}


async def test_work_after_acks_runs_one_at_a_time():
    gate = QuietGate()
    running, most = 0, 0

    async def listener(ack):
        nonlocal running, most
        await ack()
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.01)
        running -= 1

    wrapped = FakeListener(listener, ["ack"])
    _run_ack_first(wrapped)
    await asyncio.gather(*(wrapped.ack_function(ack=FirstAck(gate)) for _ in range(10)))
    await asyncio.sleep(0.3)
    assert most == 1 and running == 0


async def test_a_failure_before_the_ack_reaches_bolt():
    async def listener(ack):
        raise ValueError("bad input")

    wrapped = FakeListener(listener, ["ack"])
    _run_ack_first(wrapped)
    try:
        await wrapped.ack_function(ack=FirstAck(QuietGate()))
    except ValueError as exc:
        assert str(exc) == "bad input"
    else:
        raise AssertionError("the failure was swallowed")


async def test_an_ack_after_the_listener_finished_takes_no_slot():
    """Bolt acks events itself once their listener is done: that must not hold the slot."""
    gate = QuietGate()

    async def listener(event):
        return None

    wrapped = FakeListener(listener, ["event"])
    _run_ack_first(wrapped)
    ack = FirstAck(gate)
    await wrapped.ack_function(ack=ack, event={})
    await asyncio.sleep(0)
    await asyncio.wait_for(ack(), timeout=1)   # Bolt's automatic ack
    assert not gate.slot.locked()
