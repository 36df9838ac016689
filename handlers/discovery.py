"""Finds the modules of a handler package, so adding a handler is adding a file."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from fastapi import APIRouter


def package_modules(package: ModuleType) -> list[ModuleType]:
    """Every module directly in `package`, imported, in name order (underscore-prefixed skipped)."""
    return [
        importlib.import_module(f"{package.__name__}.{info.name}")
        for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name)
        if not info.name.startswith("_")
    ]


def combined_router(package: ModuleType, **kwargs) -> APIRouter:
    """One router made of the `router` of every module in `package` that has one."""
    router = APIRouter(**kwargs)
    for module in package_modules(package):
        if isinstance(getattr(module, "router", None), APIRouter):
            router.include_router(module.router)
    return router
