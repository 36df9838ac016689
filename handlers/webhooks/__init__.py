"""Inbound webhooks: Google push, Graph notifications, Meeting BaaS callbacks — one module each.

Each module exposes a FastAPI `router`; they only authenticate, record the fact and return fast.
"""
