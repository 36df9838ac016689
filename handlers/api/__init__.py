"""The REST Calendars API under /api. Each module exposes a FastAPI `router` for its resources."""
