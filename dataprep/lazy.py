"""Lazy package exports (PEP 562): a package names what it exports and from which module, and each name is
imported on first use. So importing a package costs nothing until a name is used (``dataprep.train``'s config
without torch, ``dataprep.shards`` without polars), and a package ``__init__`` holds no imports that could
close a circle with its own modules."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def exports(package: str, names: dict[str, str], namespace: dict[str, Any]
            ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``, whose ``names`` map each exported name to its module;
    a loaded name is cached in the package's ``namespace`` (its ``globals()``)."""

    def __getattr__(name: str) -> Any:
        if name in names:
            value = getattr(importlib.import_module(names[name]), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(names))

    return __getattr__, __dir__
