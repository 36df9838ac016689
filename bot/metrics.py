"""Prometheus metrics, in a registry per app so that several apps in one process (tests) don't clash."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.http_requests = Counter("calbot_http_requests", "HTTP requests served", ["route", "status"], registry=r)
        self.slack_commands = Counter("calbot_slack_commands", "Slash commands handled", ["subcommand"], registry=r)
        self.loop_runs = Counter("calbot_loop_runs", "Engine loop steps", ["loop", "result"], registry=r)
        self.loop_seconds = Histogram("calbot_loop_seconds", "Engine loop step duration", ["loop"], registry=r)
        self.sync_events = Counter("calbot_sync_events", "Events written by sync", ["provider"], registry=r)
        self.sync_runs = Counter("calbot_sync_runs", "Calendar syncs", ["provider", "kind", "result"], registry=r)
        self.push_notifications = Counter("calbot_push_notifications", "Push notifications received", ["provider", "result"], registry=r)
        self.bots = Counter("calbot_bots", "Recorder operations", ["operation", "result"], registry=r)
        self.outbox_sent = Counter("calbot_outbox_sent", "Outbox items delivered", ["kind", "result"], registry=r)
        self.outbox_pending = Gauge("calbot_outbox_pending", "Outbox items waiting", registry=r)
        self.connections = Gauge("calbot_connections", "Calendar connections", ["status"], registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
