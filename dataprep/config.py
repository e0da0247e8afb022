"""Reading settings from YAML and checking them against dataclasses: one validator for every recipe section
and every step's parameters, so that all of them refuse the same mistakes with the same words.

A dataclass *is* the schema. Its init fields are the keys; a key is required when its field has no default;
its type hint says what a value may be (:func:`check_type`, with int accepted for float and bool never for
int); ``metadata`` adds ``help`` (documentation), ``key`` (the YAML key, when it differs from the attribute),
``check`` (a further condition on a non-null value) and ``expect`` (how the message words what it takes).
A hint ``Annotated[T, Convert(fn, name)]`` reads the YAML value into a ``T`` first (:data:`Size`: ``256MB``).
Unknown keys are refused with a did-you-mean suggestion and the allowed keys; every error names ``file:line``.

YAML is read by PyYAML's safe loader (no tag can construct an object or run code). Aliases are bounded at load
time: a document whose aliases would expand it by more than ``MAX_ALIAS_EXPANSION`` (a "billion laughs" alias
bomb) is refused before anything walks or formats the expanded value, and messages never format more than
``REPR_CHARS`` of a value (:func:`short_repr`).

This module knows nothing of recipes' sections, steps or input formats (it imports none of them): what a
recipe means lives in :mod:`dataprep.recipe`.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import os
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any

import yaml

from dataprep.errors import RecipeError


class LineDict(dict):
    """A YAML mapping that knows its line (``line``) and each key's line (``lines``)."""

    line: int = 0

    def __init__(self) -> None:
        super().__init__()
        self.lines: dict[Any, int] = {}


class LineList(list):
    """A YAML sequence that knows its line (``line``) and each item's line (``lines``)."""

    line: int = 0

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[int] = []


#: the most an aliased document may grow by expanding its aliases, in nodes plus scalar characters. go-yaml's
#: fix for the same attack (CVE-2019-11254) allows about 400,000 alias-driven decode steps in a document;
#: SnakeYAML (CVE-2017-18640) allows 50 aliases to collections. A recipe is a few hundred nodes: an anchored
#: step (some hundred characters) reused a thousand times stays well below
MAX_ALIAS_EXPANSION = 1 << 20
#: characters of a value a message shows (:func:`short_repr`)
REPR_CHARS = 200


class AliasBomb(yaml.YAMLError):
    """A YAML document whose aliases expand it past ``MAX_ALIAS_EXPANSION`` (or refer to themselves)."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.message, self.line = message, line


class _LineLoader(yaml.SafeLoader):
    def compose_document(self) -> yaml.Node:
        node = super().compose_document()
        check_aliases(node)
        return node


def check_aliases(root: yaml.Node, limit: int = MAX_ALIAS_EXPANSION) -> None:
    """Raise :class:`AliasBomb` when expanding the aliases of a composed YAML document would add more than
    ``limit`` (nodes plus scalar characters, counted once for each place a node is used), or an alias refers to
    a node that holds it. Linear in the document's nodes: each node's expanded size is computed once."""
    expanded: dict[int, int] = {}
    own = 0  # the size of the document as written: every node once
    repeated: yaml.Node | None = None  # the first node used in more than one place
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    on_path: set[int] = set()
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            children = _children(node)
            size = 1 + (len(node.value) if isinstance(node, yaml.ScalarNode) else 0) + sum(
                expanded[id(c)] for c in children)
            expanded[key] = size
            continue
        if key in on_path:
            line = node.start_mark.line + 1
            raise AliasBomb(f"an alias refers to the node that holds it (its anchor at line {line})", line)
        if key in seen:
            if repeated is None:
                repeated = node
            continue
        seen.add(key)
        own += 1 + (len(node.value) if isinstance(node, yaml.ScalarNode) else 0)
        on_path.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in reversed(_children(node)))
    if expanded[id(root)] - own > limit:
        line = (repeated or root).start_mark.line + 1
        raise AliasBomb(f"its aliases expand it by more than {limit:,} nodes and characters (an alias bomb; "
                        f"the first node used twice is at line {line}); write the values out instead", line)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def short_repr(value: Any, limit: int = REPR_CHARS) -> str:
    """``repr(value)`` cut to about ``limit`` characters, built without ever formatting more (a value shared
    many times over, or one long string, costs only what is shown)."""
    out: list[str] = []
    room = [limit]

    def put(text: str) -> bool:
        if room[0] <= 0:
            return False
        out.append(text[: room[0]])
        room[0] -= len(text)
        return room[0] > 0

    def walk(v: Any, depth: int) -> bool:
        if isinstance(v, dict):
            if depth > 8:
                return put("{...}")
            if not put("{"):
                return False
            for i, (k, item) in enumerate(v.items()):
                if (i and not put(", ")) or not walk(k, depth + 1) or not put(": ") or not walk(item, depth + 1):
                    return False
            return put("}")
        if isinstance(v, list | tuple):
            if depth > 8:
                return put("[...]")
            if not put("["):
                return False
            for i, item in enumerate(v):
                if (i and not put(", ")) or not walk(item, depth + 1):
                    return False
            return put("]")
        if isinstance(v, str):
            return put(repr(v[: limit + 1]))
        return put(repr(v)[: limit + 1])

    complete = walk(value, 0)
    text = "".join(out)
    return text if complete and room[0] >= 0 else text[:limit] + "..."


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    out = LineDict()
    out.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        out[key] = loader.construct_object(value_node, deep=True)
        out.lines[key] = key_node.start_mark.line + 1
    return out


def _construct_sequence(loader: yaml.SafeLoader, node: yaml.SequenceNode) -> LineList:
    out = LineList()
    out.line = node.start_mark.line + 1
    for child in node.value:
        out.append(loader.construct_object(child, deep=True))
        out.lines.append(child.start_mark.line + 1)
    return out


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_yaml(path: Path) -> Any:
    """Parse a YAML file into :class:`LineDict`/:class:`LineList` values; a syntax error names its line."""
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader)  # noqa: S506 - safe loader
    except AliasBomb as exc:
        raise RecipeError(f"{path}:{exc.line}: refused: {exc.message}") from None
    except RecursionError:
        raise RecipeError(f"{path}: invalid YAML: nested too deeply") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise RecipeError(f"{path}:{mark.line + 1 if mark else '?'}: invalid YAML: {exc.problem}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise RecipeError(f"{path}: invalid YAML: {exc}") from None


def line_of(mapping: Any, key: Any, default: int = 0) -> int:
    """The line of ``key`` in a YAML mapping, else of the mapping, else ``default``."""
    lines = getattr(mapping, "lines", None)
    if isinstance(lines, dict):
        return lines.get(key, getattr(mapping, "line", default))
    return getattr(mapping, "line", default)


def with_lines(items: list, default: int = 0) -> list[tuple[int, Any]]:
    """``(line, item)`` of each item of a YAML sequence (the line is ``default`` when unknown)."""
    return list(zip(items.lines if isinstance(items, LineList) else [default] * len(items), items, strict=True))


def parse_size(value: Any, where: str) -> int:
    """Parse ``256MB``, ``1.5GiB``, ``4096`` into bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([KMGT]?i?B?)\s*", str(value), re.IGNORECASE)
    if not m:
        raise RecipeError(f"{where}: cannot read size {short_repr(value)}: write e.g. 256MB or 1GiB")
    number, unit = float(m.group(1)), m.group(2).upper().rstrip("B").rstrip("I")
    return int(number * (1 << {"": 0, "K": 10, "M": 20, "G": 30, "T": 40}[unit]))


def suggest(word: Any, options: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``options``, or an empty string."""
    close = difflib.get_close_matches(str(word), list(options), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


@dataclasses.dataclass(frozen=True)
class Convert:
    """In ``Annotated[T, Convert(fn, name)]``: a YAML value (unless null where ``T`` takes null) is read by
    ``fn(value, folder, where)`` into a ``T``. ``folder`` is the YAML file's folder, ``where`` its ``file:line``
    for messages; ``fn`` raises ValueError, TypeError or OverflowError for a value it cannot read (then the
    message says the key must be ``name``), or a RecipeError of its own."""

    fn: Callable[[Any, Path, str], Any]
    name: str


#: A byte count, written ``256MB``, ``1.5GiB`` or ``4096``.
Size = Annotated[int, Convert(lambda value, _folder, where: parse_size(value, where), "a size such as 256MB")]


def _path(value: Any) -> Path:
    if not isinstance(value, str):
        raise TypeError(value)
    return Path(value)


def _norm(value: Any, folder: Path, _where: str) -> Path:
    path = _path(value)
    return path if path.is_absolute() else Path(os.path.normpath(folder / path))


def _patterns(value: Any, folder: Path, _where: str) -> list[str]:
    paths = [value] if isinstance(value, str) else value
    if not isinstance(paths, list) or not paths or not all(isinstance(p, str) for p in paths):
        raise TypeError(value)
    return [os.path.normpath(p if Path(p).is_absolute() else folder / p) for p in paths]


#: A path relative to the YAML file's folder, made absolute (symbolic links resolved).
AbsPath = Annotated[Path, Convert(lambda value, folder, _where: (folder / _path(value)).resolve(), "a path")]
#: A path relative to the YAML file's folder, normalized (``..`` removed); an absolute one is kept as written.
NormPath = Annotated[Path, Convert(_norm, "a path")]
#: One path or glob, or a list of them, relative to the YAML file's folder, normalized.
Patterns = Annotated[list[str], Convert(_patterns, "a path or a list of paths")]
#: A whole number that may be written ``2e9`` (a string in YAML).
Count = Annotated[int, Convert(lambda value, _folder, _where: int(float(value)), "a number")]
#: A mapping (a plain ``dict`` copy), where null (or any empty value) means an empty one.
Options = Annotated[dict[str, Any], Convert(lambda value, _folder, _where: dict(value) if isinstance(value, dict)
                                            else value or {}, "a mapping")]


def _unwrap(hint: Any) -> tuple[Any, Convert | None]:
    """``(T, convert)`` of ``Annotated[T, Convert(...)]``, also inside a union (``Annotated[...] | None``)."""
    origin = typing.get_origin(hint)
    if origin is Annotated:
        inner, *extra = typing.get_args(hint)
        return inner, next((e for e in extra if isinstance(e, Convert)), None)
    if origin in (typing.Union, types.UnionType):
        parts = [_unwrap(a) for a in typing.get_args(hint)]
        convert = next((c for _, c in parts if c is not None), None)
        if convert is not None:
            return typing.Union[tuple(p for p, _ in parts)], convert  # noqa: UP007 - built from a tuple
    return hint, None


def type_name(hint: Any) -> str:
    """How a type hint reads in a message or in ``dataprep steps``: ``list of str``, ``int | null``."""
    origin = typing.get_origin(hint)
    if origin is Annotated:
        inner, convert = _unwrap(hint)
        return convert.name if convert is not None else type_name(inner)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in typing.get_args(hint))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in typing.get_args(hint))
    if origin in (list, tuple):
        args = typing.get_args(hint)
        return f"list of {type_name(args[0])}" if args else "list"
    if origin is dict:
        return "mapping"
    if hint is type(None):
        return "null"
    return getattr(hint, "__name__", str(hint))


def check_type(value: Any, hint: Any) -> bool:
    """Does a YAML value fit a parameter's type hint? (int is accepted for float; bool never for int.)"""
    if typing.get_origin(hint) is Annotated:
        hint = typing.get_args(hint)[0]
    if hint is Any:
        return True
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(check_type(value, a) for a in typing.get_args(hint))
    if origin in (list, tuple):
        args = typing.get_args(hint)
        return isinstance(value, list) and (not args or all(check_type(v, args[0]) for v in value))
    if origin is dict:
        args = typing.get_args(hint)
        return isinstance(value, dict) and (
            not args or all(check_type(k, args[0]) and check_type(v, args[1]) for k, v in value.items()))
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


def setting(default: Any = dataclasses.MISSING, *, help: str = "", key: str | None = None,
            check: Callable[[Any], Any] | None = None, expect: str | None = None,
            default_factory: Any = dataclasses.MISSING) -> Any:
    """A dataclass field with the metadata :func:`validate` reads (see the module's docstring)."""
    meta = {"help": help, **{k: v for k, v in (("key", key), ("check", check), ("expect", expect)) if v}}
    return dataclasses.field(default=default, default_factory=default_factory, metadata=meta)


@dataclasses.dataclass(frozen=True)
class Field:
    """One key of a dataclass schema."""

    name: str  # the attribute
    key: str  # the YAML key
    hint: Any
    required: bool
    help: str
    check: Callable[[Any], Any] | None
    expect: str | None


@functools.cache
def fields_of(cls: type) -> list[Field]:
    """The keys a dataclass takes: its init fields, with type hints resolved and metadata read."""
    hints = typing.get_type_hints(cls, include_extras=True)
    return [Field(f.name, f.metadata.get("key", f.name), hints.get(f.name, Any),
                  f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
                  f.metadata.get("help", ""), f.metadata.get("check"), f.metadata.get("expect"))
            for f in dataclasses.fields(cls) if f.init]


class Context:
    """The YAML file being checked: errors are raised as ``file:line: message``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.folder = path.parent

    def fail(self, line: int, message: str) -> typing.NoReturn:
        raise RecipeError(f"{self.path}:{line}: {message}")


@dataclasses.dataclass(frozen=True)
class Scope:
    """A mapping being checked, for messages: ``what`` names it (``output``, ``step 'c4'``), ``line`` is where it
    starts, ``key`` writes one of its keys (``'output.{}'``); ``params`` words the keys as a step's parameters;
    ``reserved`` keys are the caller's to check."""

    what: str
    line: int
    key: str = "'{}'"
    params: bool = False
    reserved: tuple[str, ...] = ()

    def unknown(self, key: Any, allowed: list[str]) -> str:
        if self.params:
            takes = ", ".join(allowed) or "none"
            return f"{self.what} has no parameter '{key}'{suggest(key, allowed)}; it takes: {takes}"
        return f"unknown key '{key}' in {self.what}{suggest(key, allowed)}; allowed: {', '.join(allowed)}"

    def missing(self, keys: list[str]) -> str:
        if self.params:
            return f"{self.what} needs parameter(s): {', '.join(keys)}"
        return f"{self.what} needs {', '.join(repr(k) for k in keys)}"

    def wrong(self, key: str, expect: str, value: Any) -> str:
        return f"{self.key.format(key)} must be {expect}, got {short_repr(value)}"


def validate(ctx: Context, cls: type, raw: Any, scope: Scope, fixed: Mapping[str, Any] | None = None
             ) -> dict[str, Any]:
    """Check a YAML mapping against dataclass ``cls``: unknown keys, types, conditions, required keys. Returns
    the values given, converted, by attribute name (``cls(**result)`` fills in the defaults). ``fixed`` values
    (command-line overrides, by key) replace the recipe's, which are then not checked."""
    fixed = fixed or {}
    if not isinstance(raw, dict):
        ctx.fail(scope.line, f"{scope.what} must be a mapping, got {short_repr(raw)}")
    fields = {f.key: f for f in fields_of(cls)}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        line = line_of(raw, key, scope.line)
        if key in scope.reserved or key in fixed:
            continue
        f = fields.get(key)
        if f is None:
            ctx.fail(line, scope.unknown(key, list(fields)))
        hint, convert = _unwrap(f.hint)
        given = value
        if convert is not None and not (value is None and check_type(None, hint)):
            try:
                value = convert.fn(value, ctx.folder, f"{ctx.path}:{line}")
            except (TypeError, ValueError, OverflowError):
                ctx.fail(line, scope.wrong(key, f.expect or convert.name, given))
        if not check_type(value, hint) or (value is not None and f.check is not None and not f.check(value)):
            ctx.fail(line, scope.wrong(key, f.expect or type_name(f.hint), given))
        out[f.name] = value
    missing = [k for k, f in fields.items() if f.required and k not in raw and k not in fixed]
    if missing:
        ctx.fail(scope.line, scope.missing(missing))
    return {**out, **{fields[k].name: v for k, v in fixed.items()}}
