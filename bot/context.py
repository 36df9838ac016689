"""Everything a handler or loop needs, built once at start-up and passed explicitly."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
import sqlite_utils

from bot.config import Settings
from bot.crypto import TokenCipher
from bot.engine.runner import Engine
from bot.metrics import Metrics
from bot.timeutil import Clock

if TYPE_CHECKING:
    from bot.slack_gateway import SlackGateway


@dataclass
class AppContext:
    settings: Settings
    db: sqlite_utils.Database
    cipher: TokenCipher
    clock: Clock
    http: httpx.AsyncClient
    metrics: Metrics
    engine: Engine
    slack: "SlackGateway | None" = None
    providers: dict[str, Any] = field(default_factory=dict)   # name -> CalendarProvider
    recorder: Any = None                                      # Recorder, when configured
    slack_gate: Any = None                                    # handlers.slack.ack_first.QuietGate
