"""Benchmark decontamination: drop training documents, or cut out only their overlapping spans, that share an
n-gram with evaluation data, so that a model's evaluation scores measure what it learned, not what it read.

Source: GPT-3 (Brown et al. 2020, appendix C): 13-grams of lower-cased words without punctuation; a colliding
13-gram is removed "as well as a 200 character window around it, splitting the original document into pieces";
"pieces less than 200 characters long were discarded"; "documents split into more than 10 pieces were
considered contaminated and removed entirely". lm-evaluation-harness's ``decontamination/janitor.py`` implements
the same rule (``ngram_n=13, window_to_remove=200, minimum_slice_length=200, too_dirty_cutoff=10``), and NeMo
Curator's ``TaskDecontamination`` with the same defaults (``max_splits=10``).

**Words.** The text is split into words as the MinHash shingles split it: each Han, Hiragana or Katakana
character is a word (CJK n-grams are character n-grams), every other run of characters that are neither white
space, punctuation nor symbol is a word. A word is then NFKC-folded (full-width ``ＡＢＣ`` is ``abc``),
lower-cased, and stripped of any punctuation NFKC produced; a word left empty is no word. Training documents
and evaluation items go through this one function. GPT-3 split on white space and deleted punctuation inside
words (``it's`` -> ``its``); splitting at punctuation instead makes ``state-of-the-art`` match
``state of the art`` and ``end.Next`` match ``end. Next``, which are the variants copies of test sets show.

**Evaluation sets** (``eval_sets``: files, folders or globs; a list names each file's set after its stem, a
mapping ``{name: path}`` names the set): JSONL, Parquet, Arrow and text go through dataprep's readers, CSV
through polars. A multiple-choice item (a ``question`` field with choices ``A``, ``B``, ... or a ``choices``
list: C-Eval's ``id, question, A, B, C, D, answer, explanation``, MMLU's header-less ``question, A, B, C, D,
answer``, Hugging Face MMLU's ``question, choices, answer``) gives the question alone and the question
followed by each choice (``choices: answer``: the correct one only; ``none``: the question only), so n-grams
that run from the question into an answer are found (datatrove's ``find_overlap_ngrams``). Other records give
their ``text_field``; a plain text file gives its paragraphs. Malformed records are skipped and counted in
:meth:`Decontaminate.index_info`; a set with no usable item is an error, as is a file in no known format.

**Short items.** An item of at least ``ngram`` words gives all its ``ngram``-grams. A shorter item of at least
``min_ngram`` words gives one n-gram, itself (GPT-3's benchmark-overlap analysis sets n to the item length where
items are short, with a floor of 8 "due to spurious collisions at lower values"); shorter items are skipped
(counted). A training document is checked against every n-gram size the index holds that fits in it: a
document shorter than ``ngram`` words is found when it contains a whole short item, and a stretch of fewer
than ``ngram`` words of a long item is a near-miss, kept.

**Index.** Each n-gram is a 64-bit hash: polars' vectorized hash of each word (a fixed seed), folded left to
right (``h * P + w`` modulo 2^64, P the FNV-1a prime) over the n words. Per n-gram size, the index is a sorted
array of the distinct hashes (8 bytes each), the id of the first set holding each (2 bytes, left out when there
is one set), the few hashes several sets share in a small side table, and a one-hash Bloom prefilter of 16
to 32 bits per n-gram: 10 to 14 bytes per distinct evaluation n-gram, so 10 M n-grams take 100 to 140 MB (80
MB of hashes and 32 MB of prefilter for one set). A lookup is one bit test per n-gram of the batch, and a
vectorized binary search (``np.searchsorted``) of the 3-6% that pass it. Two different n-grams collide with
probability 2^-64: with 10 M indexed n-grams, a false match happens about once in 1.8e12 document n-grams
checked. The index is built once per process (where the recipe is loaded, so that a bad evaluation file fails
the recipe, and again in each spawned worker: it is not pickled with the step) and cached by the files' paths,
sizes and modification times and the parameters that shape it. Building it holds the words of
:data:`EVAL_CHUNK_TEXTS` evaluation texts at a time, and the hashes.

**Drop** (``mode: drop``): a document with any matching n-gram is rejected as ``contaminated:<set>``, the set
with most matching n-grams (the first listed on a tie). **Mask** (``mode: mask``): the words of every matching
n-gram are removed with ``mask_window`` characters on each side (GPT-3's 200; a token the window touches goes
whole, so no word is cut), overlapping cuts merge, the pieces left shorter than ``min_piece_chars`` (200) are
discarded and the others joined by a blank line; a document cut in more than ``max_splits`` (10) places, or
with no piece left, is rejected as ``contaminated:<set>``. A cut is one merged span, as GPT-3 counts pieces;
lm-evaluation-harness's Janitor counts matching n-grams instead, so one copied passage of 23 words (11
overlapping 13-grams) rejects a whole book there and is one cut here. Not done: GPT-3's exemption of 13-grams
frequent in the training data (more than 10 documents), which needs a global pass over the corpus.

Adds ``decontam_ngrams`` (matching n-grams, counting each position and size once) and ``decontam_set``; with
``mask``, ``decontam_removed_chars``. Counters per set: ``contaminated_docs:<set>`` (documents with a match)
and ``overlapping_ngrams:<set>``; with ``mask``, ``masked_docs`` and ``masked_chars`` of the documents kept.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import threading
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from dataprep.io import ReadOptions, detect_format, read_file
from dataprep.io.readers import split_compression
from dataprep.normalize import CJK_CLASS
from dataprep.registry import register
from dataprep.schema import DOC_SCHEMA, QUARANTINE_SCHEMA
from dataprep.step import Step

#: A word: one CJK character, or a run of characters that are neither space, punctuation, symbol nor CJK.
WORD_RE = rf"[{CJK_CLASS}]|[^\s\p{{P}}\p{{S}}{CJK_CLASS}]+"
_SEP_CLASS = r"[\s\p{P}\p{S}]"
#: Words and the runs between them: every character of a text is in exactly one token, in order.
TOKEN_RE = rf"{WORD_RE}|{_SEP_CLASS}+"
_FOLD = np.uint64(0x100000001B3)  # FNV-1a 64-bit prime
#: Seed of the word hash (``pl.Series.hash``). Its values may differ between polars releases; that is
#: harmless here, because every process hashes the evaluation sets and the documents with its own polars and
#: the index is never written to disk.
HASH_SEED = 0x5DEECE66D
#: CSV and TSV: read by polars (dataprep's readers have no CSV format); the rest by the readers.
CSV_SUFFIXES = {".csv": ",", ".tsv": "\t"}
#: Choice columns of a multiple-choice item, in order.
CHOICE_LETTERS = "ABCDEFGHIJ"
PIECE_SEPARATOR = "\n\n"
#: Prefilter bits per indexed n-gram (rounded up to a power of two: 16 to 32 bits, 2 to 4 bytes): a query
#: not in the index passes it with probability about 1 - exp(-1/16) = 6% at 16 bits, and only those are
#: searched.
PREFILTER_BITS_PER_KEY = 16
#: Evaluation texts split into words at a time while the index is built (the words of 64 Ki texts of a few
#: hundred words take some hundred MB; the index keeps only the n-grams' hashes).
EVAL_CHUNK_TEXTS = 1 << 16
#: Indexes kept per process (distinct eval sets or parameters in one process are few).
_CACHE_SIZE = 4


# ---- words and n-gram hashes ---------------------------------------------------------------------------------
def normalize_words(words: pl.Series) -> pl.Series:
    """Words (from :data:`WORD_RE`) as the index compares them: NFKC, lower case, punctuation NFKC produced
    removed. ASCII words only need lower case (NFKC is the identity on ASCII), which is the common case."""
    words = words.cast(pl.String)
    non_ascii = np.flatnonzero(words.str.len_bytes().to_numpy() != words.str.len_chars().to_numpy())
    lowered = words.str.to_lowercase()
    if len(non_ascii):
        folded = (words.gather(non_ascii).str.normalize("NFKC").str.to_lowercase()
                  .str.replace_all(_SEP_CLASS, ""))
        lowered = lowered.scatter(non_ascii, folded)
    return lowered


def text_words(texts: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """(row, 64-bit hash) of every normalized word of every text, in text order."""
    df = (pl.DataFrame({"t": texts.cast(pl.String).fill_null("")}).with_row_index("row")
          .select("row", pl.col("t").str.extract_all(WORD_RE).alias("w")).explode("w").drop_nulls("w"))
    if df.height == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.uint64)
    words = normalize_words(df.get_column("w"))
    keep = (words.str.len_bytes() > 0).to_numpy()
    rows = df.get_column("row").to_numpy().astype(np.int64)[keep]
    words = words.filter(pl.Series(keep))
    return rows, word_hashes(words)


def word_hashes(words: pl.Series) -> np.ndarray:
    """A 64-bit hash of each word: polars' vectorized string hash with a fixed seed (:data:`HASH_SEED`)."""
    return words.hash(HASH_SEED).to_numpy()


def _distinct(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values (a sort and a mask: cheaper than ``np.unique`` on large uint64 arrays)."""
    values = np.sort(values)
    return values[np.r_[True, values[1:] != values[:-1]]] if len(values) else values


def ngram_hashes(rows: np.ndarray, hashes: np.ndarray, sizes: list[int]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """For each size k: (start word position, hash) of every k-gram that lies inside one row. The k-gram hash
    folds its word hashes left to right, so all sizes come out of one rolling pass."""
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    n = len(hashes)
    if not sizes or n == 0:
        return {k: (np.zeros(0, np.int64), np.zeros(0, np.uint64)) for k in sizes}
    key = hashes.copy()
    with np.errstate(over="ignore"):
        for k in range(1, max(sizes) + 1):
            if k > n:
                break
            if k > 1:
                key = key[:-1] * _FOLD + hashes[k - 1:]
            if k in sizes:
                pos = np.flatnonzero(rows[:n - k + 1] == rows[k - 1:])
                out[k] = (pos, key[pos])
    for k in sizes:
        out.setdefault(k, (np.zeros(0, np.int64), np.zeros(0, np.uint64)))
    return out


# ---- the index -----------------------------------------------------------------------------------------------
@dataclasses.dataclass
class _Table:
    """The n-grams of one size: sorted distinct hashes, the first set holding each, and the hashes in several
    sets (indices into ``keys``) with their sets (CSR)."""

    keys: np.ndarray
    owner: np.ndarray | None
    multi: np.ndarray
    multi_off: np.ndarray
    multi_sets: np.ndarray
    #: one bit per slot of the top ``bits`` bits of a hash, set where a key falls: a query whose bit is clear
    #: is not in ``keys`` and skips the binary search (a Bloom filter with one hash function)
    prefilter: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(1, np.uint8))
    bits: int = 3

    def __post_init__(self) -> None:
        if len(self.keys):
            self.bits = min(max(int(np.ceil(np.log2(PREFILTER_BITS_PER_KEY * len(self.keys)))), 3), 36)
            slot = self.keys >> np.uint64(64 - self.bits)  # sorted, as the keys are
            byte = (slot >> np.uint64(3)).astype(np.int64)
            bit = (np.uint8(1) << (slot & np.uint64(7)).astype(np.uint8)).astype(np.uint8)
            starts = np.flatnonzero(np.r_[True, byte[1:] != byte[:-1]])
            self.prefilter = np.zeros(1 << (self.bits - 3), np.uint8)
            self.prefilter[byte[starts]] = np.bitwise_or.reduceat(bit, starts)

    @classmethod
    def build(cls, keys: np.ndarray, sets: np.ndarray, n_sets: int) -> _Table:
        if n_sets == 1:  # one set: its distinct keys, and nothing else
            z = np.zeros(0, np.int64)
            return cls(keys=_distinct(keys), owner=None, multi=z, multi_off=np.zeros(1, np.int64),
                       multi_sets=np.zeros(0, np.uint16))
        order = np.lexsort((sets, keys))
        k, s = keys[order], sets[order]
        if len(k):
            distinct = np.r_[True, (k[1:] != k[:-1]) | (s[1:] != s[:-1])]
            k, s = k[distinct], s[distinct]
        first = np.r_[True, k[1:] != k[:-1]] if len(k) else np.zeros(0, bool)
        starts = np.flatnonzero(first)
        counts = np.diff(np.r_[starts, len(k)])
        multi = np.flatnonzero(counts > 1)
        return cls(keys=k[first], owner=s[first].astype(np.uint16) if n_sets > 1 else None,
                   multi=multi.astype(np.int64), multi_off=np.r_[0, np.cumsum(counts[multi])].astype(np.int64),
                   multi_sets=s[np.repeat(counts > 1, counts)].astype(np.uint16))

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.keys, self.owner, self.multi, self.multi_off, self.multi_sets,
                                      self.prefilter) if a is not None)

    def lookup(self, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(query index, set id) of each query hash found, once per set holding it."""
        if len(self.keys) == 0 or len(query) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.uint16)
        slot = query >> np.uint64(64 - self.bits)
        maybe = np.flatnonzero((self.prefilter[(slot >> np.uint64(3)).astype(np.int64)]
                                >> (slot & np.uint64(7)).astype(np.uint8)) & np.uint8(1))
        pos = np.searchsorted(self.keys, query[maybe])
        np.minimum(pos, len(self.keys) - 1, out=pos)
        found = self.keys[pos] == query[maybe]
        qi = maybe[found]
        p = pos[found]
        sets = self.owner[p] if self.owner is not None else np.zeros(len(qi), np.uint16)
        if len(self.multi) and len(qi):
            m = np.minimum(np.searchsorted(self.multi, p), len(self.multi) - 1)
            shared = self.multi[m] == p
            if shared.any():
                mm = m[shared]
                cnt = self.multi_off[mm + 1] - self.multi_off[mm]
                within = np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt)
                extra = self.multi_sets[np.repeat(self.multi_off[mm], cnt) + within]
                qi = np.concatenate([qi[~shared], np.repeat(qi[shared], cnt)])
                sets = np.concatenate([sets[~shared], extra])
        return qi, sets


@dataclasses.dataclass
class NGramIndex:
    """The n-grams of every evaluation set, by n-gram size (see the module docstring)."""

    names: list[str]
    tables: dict[int, _Table]
    info: dict[str, dict[str, int]]

    @property
    def sizes(self) -> list[int]:
        return sorted(k for k, t in self.tables.items() if len(t.keys))

    @property
    def nbytes(self) -> int:
        return sum(t.nbytes for t in self.tables.values())

    def find(self, rows: np.ndarray, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Matches of a batch's words: (start word position, size, set id) once per set, and the distinct
        (start, size) pairs' start positions for counting; positions index ``rows``/``hashes``."""
        grams = ngram_hashes(rows, hashes, self.sizes)
        starts, sizes, sets, distinct = [], [], [], []
        for k, (pos, keys) in grams.items():
            qi, s = self.tables[k].lookup(keys)
            if len(qi):
                starts.append(pos[qi])
                sizes.append(np.full(len(qi), k, np.int64))
                sets.append(s)
                distinct.append(pos[np.unique(qi)])
        if not starts:
            z = np.zeros(0, np.int64)
            return z, z, np.zeros(0, np.uint16), z
        return np.concatenate(starts), np.concatenate(sizes), np.concatenate(sets), np.concatenate(distinct)


def build_index(sets: list[tuple[str, list[Path]]], ngram: int, min_ngram: int, choices: str,
                question_field: str, text_field: str) -> NGramIndex:
    """Read every evaluation set and index its items' n-grams (see the module docstring)."""
    sizes = list(range(min_ngram, ngram + 1))
    keys: dict[int, list[np.ndarray]] = {k: [] for k in sizes}
    owners: dict[int, list[np.ndarray]] = {k: [] for k in sizes}
    info: dict[str, dict[str, int]] = {}
    for set_id, (name, files) in enumerate(sets):
        stats = {"files": len(files), "items": 0, "texts": 0, "short_texts": 0, "skipped_records": 0, "ngrams": 0}
        texts = []
        for path in files:
            items, n_items, skipped = read_eval_texts(path, choices, question_field, text_field)
            texts.append(items)
            stats["items"] += n_items
            stats["skipped_records"] += skipped
        all_texts = pl.concat(texts) if texts else pl.Series([], dtype=pl.String)
        found: dict[int, list[np.ndarray]] = {k: [] for k in sizes}
        for at in range(0, len(all_texts), EVAL_CHUNK_TEXTS):  # words of a slice at a time: bounded memory
            chunk = all_texts.slice(at, EVAL_CHUNK_TEXTS)
            rows, hashes = text_words(chunk)
            length = np.bincount(rows, minlength=len(chunk))
            first = np.r_[0, np.cumsum(length)[:-1]]
            stats["short_texts"] += int((length < min_ngram).sum())
            for k, (pos, h) in ngram_hashes(rows, hashes, sizes).items():
                if k < ngram:  # an item of exactly k words (k < ngram) gives one n-gram: itself
                    item = rows[pos]
                    h = h[(length[item] == k) & (pos == first[item])]
                found[k].append(_distinct(h))
        distinct = 0
        for k in sizes:
            h = _distinct(np.concatenate(found[k])) if found[k] else np.zeros(0, np.uint64)
            distinct += len(h)
            keys[k].append(h)
            owners[k].append(np.full(len(h), set_id, np.uint16))
        stats["texts"] = len(all_texts)
        stats["ngrams"] = distinct
        if distinct == 0:
            raise ValueError(f"eval set '{name}' ({', '.join(str(f) for f in files)}) has no item of at least "
                             f"{min_ngram} words (min_ngram) to index")
        info[name] = stats
    tables = {k: _Table.build(np.concatenate(keys[k]), np.concatenate(owners[k]), len(sets)) for k in sizes}
    return NGramIndex(names=[name for name, _ in sets], tables=tables, info=info)


# ---- reading evaluation sets ---------------------------------------------------------------------------------
def read_eval_texts(path: Path, choices: str, question_field: str, text_field: str) -> tuple[pl.Series, int, int]:
    """(texts to index, items, malformed records skipped) of one evaluation file."""
    frame, skipped = _read_eval_frame(path, question_field, text_field)
    if frame.height == 0:
        return pl.Series([], dtype=pl.String), 0, skipped
    return _item_texts(frame, choices), frame.height, skipped


def _read_eval_frame(path: Path, question_field: str, text_field: str) -> tuple[pl.DataFrame, int]:
    """The file's records as ``text`` (the question, or the text) and ``meta`` (the other fields as JSON)."""
    base, _ = split_compression(path)
    sep = CSV_SUFFIXES.get(Path(base).suffix.lower())
    if sep is not None:
        return _read_csv(path, sep, question_field, text_field), 0
    fmt = detect_format(path)
    if fmt is None:
        raise ValueError(f"eval set file {path}: unknown format (JSONL, Parquet, Arrow, text or CSV)")
    fields = _fields(path, fmt)
    field = text_field if fields is not None and question_field not in fields else question_field
    opts = ReadOptions(source="eval", format=fmt, text_field=field, id_field=None, text_unit="paragraph")
    docs, quarantine = _read_all(path, opts)
    if field != text_field and docs.num_rows == 0 and quarantine.num_rows and question_field != text_field \
            and set(quarantine.column("kind").to_pylist()) == {"missing_text"}:  # not multiple choice
        docs, quarantine = _read_all(path, replace(opts, text_field=text_field))
    frame = pl.from_arrow(docs.select(["text", "meta"]))
    assert isinstance(frame, pl.DataFrame)
    return frame, quarantine.num_rows


def _fields(path: Path, fmt: str) -> set[str] | None:
    """The field names of a table file (its schema, or a JSONL file's first record); None where unknown, or
    for formats without fields (text). Only decides which field to read first: a wrong guess costs a reread."""
    try:
        if fmt == "parquet":
            return set(pq.read_schema(str(path)).names)
        if fmt == "arrow":
            try:
                return set(pa.ipc.open_file(str(path)).schema.names)
            except pa.ArrowInvalid:
                return set(pa.ipc.open_stream(str(path)).schema.names)
        if fmt == "jsonl":
            with pa.input_stream(str(path), compression="detect") as fh:
                head = fh.read(1 << 20)
            record = json.loads(head.lstrip().split(b"\n", 1)[0])
            return set(record) if isinstance(record, dict) else None
    except (OSError, ValueError, pa.ArrowException):
        return None
    return None


def _read_all(path: Path, opts: ReadOptions) -> tuple[pa.Table, pa.Table]:
    chunks = list(read_file(path, path.name, opts))
    docs = pa.concat_tables([DOC_SCHEMA.empty_table()] + [c.docs for c in chunks])
    quarantine = pa.concat_tables([QUARANTINE_SCHEMA.empty_table()] + [c.quarantine for c in chunks])
    return docs, quarantine


def _read_csv(path: Path, sep: str, question_field: str, text_field: str) -> pl.DataFrame:
    """A CSV evaluation file: with a header naming ``question_field`` or ``text_field``, or header-less as MMLU
    publishes it (question, the choices, answer)."""
    def read(has_header: bool) -> pl.DataFrame:
        try:
            return pl.read_csv(path, has_header=has_header, separator=sep, infer_schema=False,
                               truncate_ragged_lines=True, encoding="utf8-lossy")
        except (pl.exceptions.PolarsError, OSError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ValueError(f"eval set file {path}: cannot read it as CSV: {first}") from exc

    df = read(True)
    if question_field in df.columns:
        text = question_field
    elif text_field in df.columns:
        text = text_field
    else:
        df = read(False)
        if df.width == 0:
            return pl.DataFrame(schema={"text": pl.String, "meta": pl.String})
        names = ["question"] + [CHOICE_LETTERS[i] for i in range(min(df.width - 2, len(CHOICE_LETTERS)))]
        names += ["answer"] if df.width > 1 else []
        names += [f"column_{i}" for i in range(len(names), df.width)]
        df = df.rename(dict(zip(df.columns, names, strict=True)))
        text = "question"
    df = df.filter(pl.col(text).is_not_null())
    others = [c for c in df.columns if c != text]
    meta = pl.struct(others).struct.json_encode() if others else pl.lit(None, pl.String)
    return df.select(pl.col(text).alias("text"), meta.alias("meta"))


def _item_texts(frame: pl.DataFrame, choices: str) -> pl.Series:
    """The question (or text) alone and, for multiple-choice items, the question followed by each choice."""
    frame = frame.with_row_index("item")
    question = frame.get_column("text")
    if choices == "none" or frame.get_column("meta").null_count() == frame.height:
        return question
    meta = pl.col("meta")
    parts = [frame.select("item", pl.lit(letter).alias("letter"),
                          meta.str.json_path_match(f"$.{letter}").alias("choice"))
             for letter in CHOICE_LETTERS]
    try:  # a ``choices`` list (Hugging Face's MMLU); its items as strings
        listed = (frame.select("item", meta.str.json_path_match("$.choices").alias("c"))
                  .drop_nulls("c")
                  .select("item", pl.col("c").str.json_decode(pl.List(pl.String)).alias("choice")))
        listed = (listed.explode("choice").with_columns(pl.int_range(pl.len()).over("item").alias("i"))
                  .select("item", _letter(pl.col("i")).alias("letter"), "choice"))
        parts.append(listed)
    except pl.exceptions.PolarsError:
        pass
    options = pl.concat(parts).drop_nulls("choice")
    if choices == "answer":
        answer = frame.select("item", meta.str.json_path_match("$.answer").str.strip_chars().alias("answer"))
        answer = answer.with_columns(
            pl.when(pl.col("answer").str.contains(r"^\d+$"))
            .then(_letter(pl.col("answer").cast(pl.Int64, strict=False)))
            .otherwise(pl.col("answer").str.to_uppercase()).alias("answer"))
        options = options.join(answer, on="item").filter(pl.col("letter") == pl.col("answer"))
    with_choice = (options.join(frame.select("item", "text"), on="item")
                   .sort("item", "letter", maintain_order=True)
                   .select(pl.concat_str([pl.col("text"), pl.col("choice")], separator=" ")))
    return pl.concat([question, with_choice.to_series().alias("text")])


def _letter(index: pl.Expr) -> pl.Expr:
    """The choice letter of a 0-based index (empty past :data:`CHOICE_LETTERS`)."""
    return index.replace_strict(list(range(len(CHOICE_LETTERS))), list(CHOICE_LETTERS), default="",
                                return_dtype=pl.String)


def expand_eval_sets(eval_sets: str | list[str] | dict[str, str]) -> list[tuple[str, list[Path]]]:
    """(set name, files) of the ``eval_sets`` parameter: a path or a list names each file's set after its stem
    (a folder or glob gives one set per file); a mapping names its sets."""
    if isinstance(eval_sets, str):
        eval_sets = [eval_sets]
    named = eval_sets.items() if isinstance(eval_sets, dict) else ((None, p) for p in eval_sets)
    out: list[tuple[str, list[Path]]] = []
    for name, pattern in named:
        files = _files_of(str(pattern))
        if name is not None:
            out.append((str(name), files))
        else:
            out.extend((_stem(f), [f]) for f in files)
    names = [n for n, _ in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"eval sets named twice: {', '.join(dup)}; give them names as a mapping {{name: path}}")
    if not out:
        raise ValueError("eval_sets is empty: give evaluation files (a list, or a mapping {name: path})")
    return out


def _stem(path: Path) -> str:
    base, _ = split_compression(path.name)
    return Path(base).stem


def _files_of(pattern: str) -> list[Path]:
    def wanted(p: Path) -> bool:
        return p.is_file() and not p.name.startswith(".") and (
            detect_format(p) is not None or Path(split_compression(p)[0]).suffix.lower() in CSV_SUFFIXES)

    if any(c in pattern for c in "*?["):
        files = sorted(Path(m).resolve() for m in glob.glob(pattern, recursive=True) if wanted(Path(m)))
    elif os.path.isdir(pattern):
        files = sorted(p.resolve() for p in Path(pattern).rglob("*") if wanted(p))
    elif os.path.isfile(pattern):
        files = [Path(pattern).resolve()]
    else:
        raise ValueError(f"eval set {pattern} does not exist")
    if not files:
        raise ValueError(f"eval set {pattern}: no evaluation files in it (JSONL, Parquet, Arrow, text or CSV)")
    return files


_CACHE: OrderedDict[tuple, NGramIndex] = OrderedDict()
_LOCK = threading.Lock()


def cached_index(sets: list[tuple[str, list[Path]]], ngram: int, min_ngram: int, choices: str,
                 question_field: str, text_field: str) -> NGramIndex:
    """:func:`build_index`, once per process for the same files (path, size, mtime) and parameters."""
    stamps = tuple((name, tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files))
                   for name, files in sets)
    key = (stamps, ngram, min_ngram, choices, question_field, text_field)
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
        index = build_index(sets, ngram, min_ngram, choices, question_field, text_field)
        _CACHE[key] = index
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
        return index


# ---- the step ------------------------------------------------------------------------------------------------
@register
@dataclasses.dataclass
class Decontaminate(Step):
    """Reject training documents that share an n-gram with evaluation data (``mode: drop``), or cut the
    overlapping spans out of them (``mode: mask``), naming the evaluation set.

    Source: GPT-3 (Brown et al. 2020), appendix C: 13-grams of lower-cased words without punctuation
    (``ngram`` 13); the matching words are removed with a 200-character window on each side (``mask_window``),
    pieces under 200 characters are discarded (``min_piece_chars``), and a document split more than 10 times
    is removed whole (``max_splits``), as lm-evaluation-harness's Janitor and NeMo Curator's
    TaskDecontamination do it. Items shorter than ``ngram`` words are matched whole down to 8 words
    (``min_ngram``; GPT-3's floor "due to spurious collisions at lower values"). See the module docstring for
    words, evaluation files and the index.
    """

    name = "decontaminate"
    path_params = ("eval_sets",)
    eval_sets: str | list[str] | dict[str, str] = dataclasses.field(
        default_factory=list,
        metadata={"help": "evaluation files, folders or globs; a mapping {name: path} names the sets"})
    ngram: int = dataclasses.field(default=13, metadata={"help": "words per n-gram (GPT-3: 13)"})
    min_ngram: int = dataclasses.field(
        default=8, metadata={"help": "shorter items are matched whole down to this many words (GPT-3: 8)"})
    mode: Literal["drop", "mask"] = dataclasses.field(
        default="drop", metadata={"help": "drop: reject the document; mask: cut the overlapping spans out"})
    choices: Literal["all", "answer", "none"] = dataclasses.field(
        default="all", metadata={"help": "multiple-choice items: the question followed by which choices"})
    question_field: str = "question"
    text_field: str = "text"
    mask_window: int = dataclasses.field(default=200, metadata={"help": "characters cut on each side (GPT-3)"})
    min_piece_chars: int = dataclasses.field(default=200, metadata={"help": "shorter pieces are dropped (GPT-3)"})
    max_splits: int = dataclasses.field(default=10, metadata={"help": "more cuts reject the document (GPT-3)"})

    def __post_init__(self) -> None:
        if self.mode not in ("drop", "mask"):
            raise ValueError(f"mode must be drop or mask, got {self.mode!r}")
        if self.choices not in ("all", "answer", "none"):
            raise ValueError(f"choices must be all, answer or none, got {self.choices!r}")
        if self.ngram < 1 or not 1 <= self.min_ngram <= self.ngram:
            raise ValueError(f"need 1 <= min_ngram <= ngram, got min_ngram {self.min_ngram}, ngram {self.ngram}")
        if min(self.mask_window, self.min_piece_chars, self.max_splits) < 0:
            raise ValueError("mask_window, min_piece_chars and max_splits must be >= 0")
        self._sets = expand_eval_sets(self.eval_sets)
        self._index: NGramIndex | None = None
        self.index()  # read the evaluation sets now: a bad one fails the recipe before any work

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_index"] = None  # each process builds (and caches) its own
        return state

    def index(self) -> NGramIndex:
        """The n-gram index of the evaluation sets (built once per process)."""
        if self._index is None:
            self._index = cached_index(self._sets, self.ngram, self.min_ngram, self.choices, self.question_field,
                                       self.text_field)
        return self._index

    def index_info(self) -> dict[str, Any]:
        """Per set: files, items, texts indexed, texts too short, records skipped, distinct n-grams; and the
        index's size in bytes."""
        idx = self.index()
        return {"sets": idx.info, "bytes": idx.nbytes}

    def annotate_polars(self, df: pl.DataFrame) -> pl.DataFrame:
        idx = self.index()
        n_sets = len(idx.names)
        text = df.get_column("text")
        rows, hashes = text_words(text)
        starts, sizes, sets, distinct = idx.find(rows, hashes)
        n = df.height
        n_hits = np.bincount(rows[distinct], minlength=n).astype(np.int64) if len(distinct) else np.zeros(n, np.int64)
        hit_rows = np.flatnonzero(n_hits)
        top: list[str | None] = [None] * n
        counts_col: list[list[int] | None] = [None] * n
        if len(hit_rows):
            compact = np.searchsorted(hit_rows, rows[starts])
            per_set = np.bincount(compact * n_sets + sets.astype(np.int64),
                                  minlength=len(hit_rows) * n_sets).reshape(len(hit_rows), n_sets)
            best = per_set.argmax(axis=1)
            for j, r in enumerate(hit_rows.tolist()):
                top[r] = idx.names[int(best[j])]
                counts_col[r] = per_set[j].tolist()
        out = df.with_columns(pl.Series("decontam_ngrams", n_hits, dtype=pl.Int64),
                              pl.Series("decontam_set", top, dtype=pl.String),
                              pl.Series("_dc_counts", counts_col, dtype=pl.List(pl.Int64)))
        if self.mode == "drop":
            return out.with_columns((pl.col("decontam_ngrams") > 0).alias("_dc_reject"))
        removed = np.zeros(n, np.int64)
        reject = np.zeros(n, bool)
        new_text = text
        if len(hit_rows):
            first_word = np.searchsorted(rows, hit_rows)  # position of each hit row's first word
            compact = np.searchsorted(hit_rows, rows[starts])
            local = starts - first_word[compact]
            texts, n_cuts = _mask(text.gather(hit_rows), compact, local, sizes, self.mask_window,
                                  self.min_piece_chars)
            old_len = text.gather(hit_rows).str.len_chars().to_numpy().astype(np.int64)
            new_len = texts.str.len_chars().to_numpy().astype(np.int64)
            bad = (n_cuts > self.max_splits) | (new_len == 0)
            reject[hit_rows] = bad
            removed[hit_rows] = np.where(bad, 0, old_len - new_len)
            keep_at = hit_rows[~bad]
            if len(keep_at):
                new_text = text.scatter(keep_at, texts.filter(pl.Series(~bad)))
        return out.with_columns(new_text.alias("text"), pl.Series("decontam_removed_chars", removed, dtype=pl.Int64),
                                pl.Series("_dc_reject", reject, dtype=pl.Boolean))

    def reason_expr(self, df: pl.DataFrame) -> pl.Expr | None:
        return pl.when(pl.col("_dc_reject")).then(pl.lit("contaminated:") + pl.col("decontam_set")) \
            .otherwise(pl.lit(None, pl.String))

    def counters(self, annotated: pl.DataFrame) -> dict[str, int]:
        names = self.index().names
        hit = annotated.get_column("_dc_counts").drop_nulls()
        per_set = np.array(hit.to_list(), dtype=np.int64).reshape(-1, len(names))
        out: dict[str, int] = {}
        for j, name in enumerate(names):
            out[f"contaminated_docs:{name}"] = int((per_set[:, j] > 0).sum())
            out[f"overlapping_ngrams:{name}"] = int(per_set[:, j].sum())
        if self.mode == "mask":
            kept = annotated.filter(~pl.col("_dc_reject"))
            chars = kept.get_column("decontam_removed_chars")
            out["masked_docs"] = int((chars > 0).sum())
            out["masked_chars"] = int(chars.sum())
        return out


def _mask(texts: pl.Series, doc: np.ndarray, start: np.ndarray, size: np.ndarray, window: int,
          min_piece: int) -> tuple[pl.Series, np.ndarray]:
    """Cut matches out of ``texts``: match i covers words ``start[i] .. start[i] + size[i]`` of text
    ``doc[i]``. Returns the texts left (pieces of at least ``min_piece`` characters joined by
    :data:`PIECE_SEPARATOR`; empty when none is) and the number of cuts of each text."""
    n = len(texts)
    tok = (pl.DataFrame({"t": texts}).with_row_index("d")
           .select("d", pl.col("t").str.extract_all(TOKEN_RE).alias("tok")).explode("tok").drop_nulls("tok"))
    tok_d = tok.get_column("d").to_numpy().astype(np.int64)
    length = tok.get_column("tok").str.len_chars().to_numpy().astype(np.int64)
    is_word = ~tok.get_column("tok").str.contains(rf"^{_SEP_CLASS}").to_numpy()
    word_at = np.flatnonzero(is_word)
    # the same words as :func:`text_words`: a word NFKC makes empty is no word
    is_word[word_at[normalize_words(tok.get_column("tok").gather(word_at)).str.len_bytes().to_numpy() == 0]] = False
    word_at = np.flatnonzero(is_word)
    # global character coordinates: the texts one after the other, one position apart
    t_start = np.cumsum(length) - length + tok_d
    t_end = t_start + length
    doc_len = np.bincount(tok_d, weights=length, minlength=n).astype(np.int64)
    doc_base = np.r_[0, np.cumsum(doc_len + 1)[:-1]].astype(np.int64)
    first = np.searchsorted(tok_d[word_at], np.arange(n))
    w0 = word_at[first[doc] + start]
    w1 = word_at[first[doc] + start + size - 1]
    lo = np.maximum(t_start[w0] - window, doc_base[doc])
    hi = np.minimum(t_end[w1] + window, doc_base[doc] + doc_len[doc])
    order = np.argsort(lo, kind="stable")
    lo, hi, cut_doc = lo[order], hi[order], doc[order]
    reach = np.maximum.accumulate(hi)
    new = np.r_[True, lo[1:] > reach[:-1]]
    region_lo = lo[new]
    region_hi = np.maximum.reduceat(hi, np.flatnonzero(new))
    n_cuts = np.bincount(cut_doc[new], minlength=n)
    r = np.searchsorted(region_lo, t_end, side="left") - 1
    removed = (r >= 0) & (region_hi[np.maximum(r, 0)] > t_start)
    piece = np.cumsum(removed)  # kept tokens between two removed runs share a piece number
    kept = tok.with_columns(pl.Series("piece", piece), pl.Series("removed", removed)).filter(~pl.col("removed"))
    pieces = (kept.group_by("d", "piece", maintain_order=True).agg(pl.col("tok").str.join(""))
              .with_columns(pl.col("tok").str.strip_chars())
              .filter(pl.col("tok").str.len_chars() >= max(min_piece, 1)))
    joined = pieces.group_by("d", maintain_order=True).agg(pl.col("tok").str.join(PIECE_SEPARATOR))
    out = (pl.DataFrame({"d": np.arange(n, dtype=np.uint32)})
           .join(joined, on="d", how="left", maintain_order="left").get_column("tok").fill_null(""))
    return out, n_cuts
