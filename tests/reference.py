"""Where the shared reference specs live: ../shared/reference beside the repo (CALBOT_REFERENCE_DIR overrides)."""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def reference_dir() -> Path:
    override = os.environ.get("CALBOT_REFERENCE_DIR")
    if override:
        return Path(override)
    for candidate in (REPO_ROOT.parent / "shared" / "reference", REPO_ROOT / "shared" / "reference"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"reference specs not found beside the repo ({REPO_ROOT.parent / 'shared' / 'reference'}); "
        "set CALBOT_REFERENCE_DIR"
    )


def reference_path(name: str) -> Path:
    return reference_dir() / name


@lru_cache(maxsize=None)
def load_reference_json(name: str) -> dict:
    return json.loads(reference_path(name).read_text())
