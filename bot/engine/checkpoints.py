"""The checkpoint loop: folds SQLite's write-ahead log back into the database file.

Automatic checkpoints are off on calbot's connection (storage/db.py) because SQLite runs them
inside the commit that crosses the threshold — on the event loop, fsync included. Here they run
in a worker thread on a connection of their own, and PASSIVE, so no writer ever waits for them.
"""

from __future__ import annotations

import asyncio

from bot.context import AppContext
from storage.db import checkpoint


class Checkpointer:
    def __init__(self, ctx: AppContext):
        self.ctx = ctx
        self.path = ctx.settings.calbot_database

    async def step(self) -> bool:
        if self.path == ":memory:":
            return False
        await asyncio.to_thread(checkpoint, self.path)
        return False
