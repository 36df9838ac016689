"""The REST Calendars API's own parts: its sub-application, auth, error shape, schemas and queries.

Route handlers live in handlers/api/ (one module per resource); this package holds what they share.
"""
