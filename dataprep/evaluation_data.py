"""Reading evaluation data for ``dataprep eval``: text sets (for perplexity) through dataprep's readers, and
multiple-choice sets (question, choices A-D, answer letter, optional subject) as C-Eval and MMLU publish them.

Why a module of its own: evaluation sets come in layouts the document readers do not know (MMLU's header-less
CSV), and the scoring code (:mod:`dataprep.train.evaluate`) imports only torch and numpy; this module reads,
``dataprep.cli`` joins the two. It imports :mod:`dataprep.io` and polars, never ``dataprep.train``.

Layouts that load as published:

- C-Eval (``{subject}_val.csv``, ``_dev.csv``, ``_test.csv``): a header ``id,question,A,B,C,D,answer``
  (``dev`` adds ``explanation``; ``test`` has no answer, so its rows are skipped as unanswered).
- MMLU (``{subject}_test.csv``, ``_dev.csv``, ``_val.csv``): no header, six columns ``question,A,B,C,D,answer``.
- JSONL or Parquet with ``question``, ``A``-``D``, ``answer`` and an optional ``subject`` (or the Hugging Face
  MMLU layout: ``choices`` (four strings) and ``answer`` 0-3).

The subject is the ``subject`` column where there is one, else the file's name without the split suffix
(``_val``, ``_dev``, ``_test``, ``_train``). A row that cannot be used (a missing field, an answer that is not
A-D) is skipped and listed with its file and row; a file that cannot be parsed is skipped with the reason: bad
input never stops the evaluation of the rest.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from dataprep.errors import DataprepError
from dataprep.io.readers import expand_paths, read_documents

LETTERS = ("A", "B", "C", "D")
FIELDS = ("question", *LETTERS, "answer")
SPLIT_SUFFIXES = ("_val", "_dev", "_test", "_train", "_validation")
MC_SUFFIXES = (".csv", ".jsonl", ".json", ".parquet")


@dataclass
class MultipleChoiceSet:
    """The items of one multiple-choice data set and the rows that were skipped (``(file:row, reason)``)."""

    name: str
    items: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def subject_of(path: Path) -> str:
    stem = path.name.split(".")[0]
    for suffix in SPLIT_SUFFIXES:
        if stem.endswith(suffix) and len(stem) > len(suffix):
            return stem[: -len(suffix)]
    return stem


def set_name(path: str | Path) -> str:
    """A data set's name: its file's name without extensions (``heldout.jsonl.gz`` -> ``heldout``), or its
    folder's name."""
    p = Path(path)
    return p.name if p.is_dir() else p.name.split(".")[0]


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    return [path]


def _columns_of(path: Path) -> set[str]:
    """Field names of a JSONL/JSON (first record) or Parquet file; empty where unreadable."""
    try:
        if path.name.endswith(".parquet"):
            return set(pl.read_parquet_schema(path))
        if path.name.endswith((".jsonl", ".json")):
            with open(path, encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    if line.strip():
                        rec = json.loads(line)
                        return set(rec) if isinstance(rec, dict) else set()
    except (OSError, ValueError, pl.exceptions.PolarsError):
        return set()
    return set()


def _is_mc_file(path: Path) -> bool:
    if path.name.endswith(".csv"):
        return True
    cols = _columns_of(path)
    return "question" in cols and (set(LETTERS) <= cols or "choices" in cols)


def is_multiple_choice(path: str | Path) -> bool:
    """A multiple-choice set: a CSV file, a JSONL/Parquet file with ``question`` and choices, or a folder
    whose files all are."""
    files = [p for p in _files(Path(path)) if p.name.endswith(MC_SUFFIXES) or Path(path).is_file()]
    return bool(files) and all(_is_mc_file(p) for p in files)


def _normalize(rec: dict[str, Any], subject: str) -> tuple[dict[str, Any] | None, str]:
    """An item from a raw record, or ``(None, why not)``."""
    rec = {str(k).strip(): v for k, v in rec.items()}
    if "choices" in rec and not all(letter in rec for letter in LETTERS):
        choices = rec.get("choices")
        if not isinstance(choices, list) or len(choices) != 4:
            return None, "'choices' is not a list of four"
        rec.update(dict(zip(LETTERS, choices, strict=True)))
    answer = rec.get("answer")
    if isinstance(answer, int) and not isinstance(answer, bool) and 0 <= answer < 4:
        answer = LETTERS[answer]
    answer = str(answer).strip().upper() if answer is not None else ""
    if answer not in LETTERS:
        return None, f"answer {rec.get('answer')!r} is not one of A, B, C, D"
    for key in ("question", *LETTERS):
        value = rec.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            return None, f"no {key!r}"
    item = {key: str(rec[key]) for key in ("question", *LETTERS)}
    item["answer"] = answer
    item["subject"] = str(rec.get("subject") or subject)
    return item, ""


def _csv_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(row number in the file, record) of a C-Eval (header) or MMLU (no header) CSV."""
    df = pl.read_csv(path, has_header=False, infer_schema=False, truncate_ragged_lines=True)
    if df.height == 0:
        return
    first = [str(v).strip() if v is not None else "" for v in df.row(0)]
    lowered = [v.lower() for v in first]
    if "question" in lowered and all(letter in first for letter in LETTERS):
        names = [v if v in LETTERS else v.lower() for v in first]
        body = df.slice(1)
        offset = 2
    else:
        if df.width < 6:
            raise DataprepError(f"{df.width} columns; a header-less (MMLU) CSV has six: "
                                f"question,A,B,C,D,answer")
        names = list(FIELDS) + [f"extra_{i}" for i in range(df.width - 6)]
        body = df
        offset = 1
    for i, row in enumerate(body.iter_rows()):
        yield i + offset, dict(zip(names, row, strict=True))


def _jsonl_records(path: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    with open(path, encoding="utf-8", errors="replace") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError as exc:
                yield n, f"not JSON ({exc})"
                continue
            yield n, rec if isinstance(rec, dict) else "not a JSON object"


def load_multiple_choice(path: str | Path) -> MultipleChoiceSet:
    """All items of a multiple-choice file or folder (C-Eval/MMLU CSVs, JSONL, Parquet), in file order."""
    p = Path(path)
    if not p.exists():
        raise DataprepError(f"{p} does not exist")
    out = MultipleChoiceSet(set_name(p))
    for f in _files(p):
        if p.is_dir() and not f.name.endswith(MC_SUFFIXES):
            continue
        subject = subject_of(f)
        try:
            if f.name.endswith(".csv"):
                records: Iterator[tuple[int, Any]] = _csv_records(f)
            elif f.name.endswith(".parquet"):
                records = enumerate(pl.read_parquet(f).to_dicts(), 1)
            else:
                records = _jsonl_records(f)
            for row, rec in records:
                if isinstance(rec, str):
                    out.skipped.append((f"{f}:{row}", rec))
                    continue
                item, why = _normalize(rec, subject)
                if item is None:
                    out.skipped.append((f"{f}:{row}", why))
                else:
                    item["where"] = f"{f}:{row}"
                    out.items.append(item)
        except (OSError, UnicodeDecodeError, pl.exceptions.PolarsError, DataprepError) as exc:
            out.skipped.append((str(f), f"unreadable: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"))
    return out


def iter_text_batches(path: str | Path, batch_docs: int = 64) -> Iterator[list[str]]:
    """Document texts of a text set (any format the readers read: JSONL, Parquet, Arrow, text, ...), in
    batches of at most ``batch_docs``; malformed records are skipped by the readers."""
    if not expand_paths([str(path)]):
        raise DataprepError(f"{path}: no input files")
    for table in read_documents([str(path)]):
        texts = table.column("text").to_pylist()
        for lo in range(0, len(texts), batch_docs):
            yield [t for t in texts[lo: lo + batch_docs] if t is not None]
