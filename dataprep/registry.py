"""The step registry: which step class a recipe's step name means, and where step classes come from.

Steps come from three places, so that a step a user writes runs from ``dataprep run`` as it does in a notebook:

- **entry points** of the group ``dataprep.steps``: the built-in steps are declared there in
  ``pyproject.toml`` (``exact_dedup = "dataprep.dedup.exact:ExactDedup"``), and so can any installed package
  (a value may also name a module, which registers its steps when imported);
- a recipe's ``plugins: [module, ...]`` key: :func:`load_plugins` imports those modules first;
- :func:`register`, the class decorator, for a class defined in a notebook or a plugin module.

A name is looked up lazily: :func:`get_step` loads only the entry point of that name, so a recipe imports the
libraries of the steps it uses and no others.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
from typing import TypeVar

from dataprep.errors import RecipeError
from dataprep.step import Step

GROUP = "dataprep.steps"

REGISTRY: dict[str, type[Step]] = {}

S = TypeVar("S", bound=type[Step])


def register(cls: S) -> S:
    """Class decorator: make a step available to recipes under ``cls.name``."""
    if not isinstance(cls, type) or not issubclass(cls, Step):
        raise TypeError(f"register takes a Step subclass, got {cls!r}")
    if not cls.name:
        raise ValueError(f"{cls.__name__} needs a non-empty 'name' to be registered")
    taken = REGISTRY.get(cls.name)
    if taken is not None and taken is not cls:
        raise ValueError(f"step name {cls.name!r} is taken by {taken.__module__}.{taken.__qualname__}")
    # a name an installed package declares belongs to that package's class, loaded or not yet
    ep = _entry_points().get(cls.name)
    if ep is not None and ep.attr and ep.value != f"{cls.__module__}:{cls.__qualname__}":
        raise ValueError(f"step name {cls.name!r} is taken by the entry point {ep.value}")
    REGISTRY[cls.name] = cls
    return cls


@functools.cache
def _entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    """The ``dataprep.steps`` entry points of the installed packages (read once per process)."""
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=GROUP)}


def _load(ep: importlib.metadata.EntryPoint) -> None:
    """Import an entry point; a class is registered under the entry point's name, which must be its own."""
    try:
        obj = ep.load()
    except Exception as exc:
        raise RecipeError(f"cannot load step '{ep.name}' from {ep.value}: {type(exc).__name__}: {exc}") from exc
    if isinstance(obj, type):
        if not issubclass(obj, Step) or obj.name != ep.name:
            raise RecipeError(f"entry point '{ep.name}' = {ep.value} is not a step named '{ep.name}'")
        register(obj)


def get_step(name: str) -> type[Step] | None:
    """The step class registered under ``name``, loading its entry point if needed; None when unknown."""
    if name not in REGISTRY:
        ep = _entry_points().get(name)
        if ep is not None:
            _load(ep)
    return REGISTRY.get(name)


def all_steps() -> dict[str, type[Step]]:
    """Every step: all entry points loaded, plus those registered by import; sorted by name."""
    for name, ep in sorted(_entry_points().items()):
        if name not in REGISTRY:
            _load(ep)
    return dict(sorted(REGISTRY.items()))


def step_names() -> list[str]:
    """Names of every known step without importing any (for suggestions in error messages)."""
    return sorted(set(REGISTRY) | set(_entry_points()))


def load_plugins(modules: list[str]) -> None:
    """Import a recipe's ``plugins:`` modules, whose ``@register`` steps the recipe may then use."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise RecipeError(f"plugin module '{module}' cannot be imported: {exc}") from exc
