"""Error types that the CLI turns into one clear line (a traceback only with ``--debug``)."""

from __future__ import annotations


class DataprepError(Exception):
    """A user-facing error: the message names the file, line or field and what to do next."""


class RecipeError(DataprepError):
    """A recipe is invalid: unknown step, wrong parameter type, missing input, bad output settings."""


class InputError(DataprepError):
    """An input path is missing or cannot be read at all (malformed records are quarantined instead)."""
