"""Calendar OAuth: `/oauth/{provider}/start` and `/oauth/{provider}/callback`. Modules expose `router`."""
