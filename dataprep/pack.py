"""``dataprep pack``: tokenize cleaned shards and write packed token shards for training.

Documents are read shard by shard, tokenized in batches (HF ``tokenizers`` encodes a batch on all cores),
each followed by EOS, and appended to the token stream of their split (train, or validation for a stable
``val_fraction`` of documents chosen by a hash of their id). One input shard becomes one *part* per split:
``tokens-NNNNN.bin`` (uint16 when the vocabulary fits, else uint32) and ``docs-NNNNN.idx`` (int64 start of each
document in the part), written to temporary names and renamed, then a marker with its counts; a rerun skips
finished parts, so an interrupted pack resumes and ends byte-identical. Memory stays bounded by one batch:
neither the tokens nor the document index are held whole. ``manifest.json`` (written last) records the
tokenizer's hash, seq_len, dtype, parts, tokens per source and per split. Windows are cut by the reader
(``dataprep.shards``): documents continue across windows, nothing is truncated or padded.

Inputs are checked as the readers check theirs (:func:`dataprep.io.readers.safety.unit_problem`): a file found
in an input folder whose real path leaves that folder (a link to a host file), a FIFO, a device or a socket is
never opened; it is listed with the reason under ``refused`` in the manifest and warned about. Temporary files
are named by :func:`dataprep.io.writers.temp_path`, so the run's stale-temp cleanup finds a killed pack's; a
write the machine refuses (a full disk, an unwritable folder) deletes them and raises
:class:`~dataprep.errors.OutputError` naming the part.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import xxhash

from dataprep.errors import DataprepError, write_error
from dataprep.io.readers import expand_paths, read_documents
from dataprep.io.readers.safety import unit_problem
from dataprep.io.writers import atomic_write_json, discard_temp, remove_temp_files, temp_path
from dataprep.progress import Progress
from dataprep.shards import FORMAT

SPLITS = ("train", "val")


def load_tokenizer(path: str | Path) -> Any:
    from tokenizers import Tokenizer

    path = Path(path)
    if path.is_dir():
        path = path / "tokenizer.json"
    if not path.exists():
        raise DataprepError(f"tokenizer {path} does not exist (train one with 'dataprep tokenizer train')")
    return Tokenizer.from_file(str(path))


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def eos_id(tok: Any, eos: str) -> int:
    i = tok.token_to_id(eos)
    if i is None:
        raise DataprepError(f"the tokenizer has no EOS token {eos!r}; pass --eos with one of its special tokens")
    return int(i)


def encode(tok: Any, texts: list[str]) -> list[list[int]]:
    """Token ids of a batch, without added special tokens (parallel inside ``tokenizers``)."""
    fast = getattr(tok, "encode_batch_fast", None)
    encs = (fast or tok.encode_batch)(texts, add_special_tokens=False)
    return [e.ids for e in encs]


def safe_units(inputs: list[str]) -> tuple[list[tuple[Path, str]], list[tuple[str, str]]]:
    """The input files of ``inputs`` (files, folders, globs) in a stable order, as (path, name), and those that
    must not be read, as (name, why): a file whose real path leaves the folder it was found in, a FIFO, a
    device, a socket (:func:`~dataprep.io.readers.safety.unit_problem`, the readers' rule)."""
    units, refused = [], []
    for path, rel in expand_paths(inputs):
        problem = unit_problem(path, rel)
        if problem is None:
            units.append((path, rel))
        else:
            refused.append((rel, f"{problem}; not read"))
    return units, refused


def iter_batches(inputs: list[str], batch_docs: int) -> Iterator[tuple[str, Iterator[pa.Table]]]:
    """(shard name, its tables) for each input file in a stable order. Arrow/Parquet shards written by
    ``dataprep run`` keep their ``source`` column; other inputs get it from their metadata. An input that must
    not be read (:func:`safe_units`) is skipped with a warning naming it."""
    units, refused = safe_units(inputs)
    for rel, why in refused:
        warnings.warn(f"{rel}: {why}", RuntimeWarning, stacklevel=2)
    for path, rel in units:
        yield rel, _tables(path, batch_docs)


def _tables(path: Path, batch_docs: int) -> Iterator[pa.Table]:
    if path.suffix in (".arrow", ".parquet"):
        import pyarrow.ipc as ipc
        import pyarrow.parquet as pq

        if path.suffix == ".arrow":
            reader = ipc.open_file(pa.memory_map(str(path)))
            batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
        else:
            batches = pq.ParquetFile(path).iter_batches(batch_size=batch_docs)
        for batch in batches:
            table = pa.Table.from_batches([batch])
            if "text" not in table.column_names:
                raise DataprepError(f"{path}: no 'text' column (columns: {', '.join(table.column_names)})")
            for off in range(0, table.num_rows, batch_docs):
                yield _doc_columns(table.slice(off, batch_docs))
    else:
        for table in read_documents([str(path)]):
            for off in range(0, table.num_rows, batch_docs):
                yield _doc_columns(table.slice(off, batch_docs))


def _doc_columns(table: pa.Table) -> pa.Table:
    n = table.num_rows
    cols = {"text": table.column("text")}
    cols["id"] = table.column("id") if "id" in table.column_names else pa.array([None] * n, pa.string())
    cols["source"] = table.column("source") if "source" in table.column_names else pa.array(["input"] * n)
    return pa.table(cols)


def is_validation(ids: list[str | None], texts: list[str], fraction: float) -> np.ndarray:
    """Stable split: a document is held out when the hash of its id (else its text) falls under ``fraction``."""
    if fraction <= 0:
        return np.zeros(len(texts), dtype=bool)
    cut = int(fraction * (1 << 32))
    return np.array([xxhash.xxh32_intdigest((i if i is not None else t).encode("utf-8")) < cut
                     for i, t in zip(ids, texts, strict=True)], dtype=bool)


class _PartWriter:
    """Streams one part of one split to temporary files; ``close`` renames them into place. A refused write
    deletes both temporary files and raises :class:`~dataprep.errors.OutputError` naming the part's file."""

    def __init__(self, folder: Path, index: int, dtype: np.dtype) -> None:
        self.tokens_path = folder / f"tokens-{index:05d}.bin"
        self.docs_path = folder / f"docs-{index:05d}.idx"
        self.tmp_tokens = temp_path(self.tokens_path)
        self.tmp_docs = temp_path(self.docs_path)
        self.tok_fh = self.doc_fh = None
        self.dtype = dtype
        self.n_tokens = 0
        self.n_docs = 0
        self.n_bytes = 0  # UTF-8 bytes of the documents' text (for bits per byte)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self.tok_fh = open(self.tmp_tokens, "wb")
            self.doc_fh = open(self.tmp_docs, "wb")
        except OSError as exc:
            raise self._failed(exc, self.tokens_path if self.tok_fh is None else self.docs_path) from exc

    def _failed(self, exc: OSError, path: Path) -> OSError:
        needs = self.n_tokens * self.dtype.itemsize if path == self.tokens_path else self.n_docs * 8
        self.abort()
        return write_error(exc, path, needs or None)

    def write(self, docs: list[list[int]], eos: int) -> None:
        if not docs:
            return
        lengths = np.fromiter((len(d) + 1 for d in docs), dtype=np.int64, count=len(docs))
        starts = self.n_tokens + np.r_[0, np.cumsum(lengths)[:-1]]
        flat = np.empty(int(lengths.sum()), dtype=self.dtype)
        ends = np.cumsum(lengths)
        pos = 0
        for d, end in zip(docs, ends.tolist(), strict=True):
            flat[pos:end - 1] = d
            pos = end
        flat[ends - 1] = eos
        self.n_tokens += len(flat)
        self.n_docs += len(docs)
        for fh, path, data in ((self.tok_fh, self.tokens_path, flat.astype(self.dtype.newbyteorder("<"), copy=False)),
                               (self.doc_fh, self.docs_path, starts.astype("<i8"))):
            try:
                fh.write(data.tobytes())
            except OSError as exc:
                raise self._failed(exc, path) from exc

    def close(self) -> dict[str, Any]:
        for fh, path in ((self.tok_fh, self.tokens_path), (self.doc_fh, self.docs_path)):
            try:
                fh.flush()
                os.fsync(fh.fileno())
                fh.close()
            except OSError as exc:
                raise self._failed(exc, path) from exc
        for tmp, path in ((self.tmp_tokens, self.tokens_path), (self.tmp_docs, self.docs_path)):
            try:
                os.replace(tmp, path)
            except OSError as exc:
                raise self._failed(exc, path) from exc
        return {"n_tokens": self.n_tokens, "n_docs": self.n_docs, "n_bytes": self.n_bytes}

    def abort(self) -> None:
        """Close both files (errors ignored: the disk may be full) and delete their temporary names."""
        for fh in (self.tok_fh, self.doc_fh):
            if fh is not None:
                try:
                    fh.close()
                except OSError:
                    pass
        for p in (self.tmp_tokens, self.tmp_docs):
            discard_temp(p)


def pack(inputs: list[str], tokenizer: str | Path, output: str | Path, seq_len: int = 2048,
         val_fraction: float = 0.005, eos: str = "<|endoftext|>", batch_docs: int = 1024,
         quiet: bool = False, overwrite: bool = False) -> dict[str, Any]:
    """Pack ``inputs`` (files, folders, globs: typically ``OUT/kept``) into ``output``; returns the manifest.

    A finished pack with the same settings (inputs and their sizes, tokenizer hash, seq_len, split) is
    returned as it is; one with other settings is refused unless ``overwrite``. Inputs that must not be read
    (:func:`safe_units`) are left out and listed, with the reason, under the manifest's ``refused``."""
    if seq_len < 1:
        raise DataprepError("seq_len must be at least 1")
    if not 0 <= val_fraction < 1:
        raise DataprepError("val_fraction must be in [0, 1)")
    tok = load_tokenizer(tokenizer)
    tok_path = Path(tokenizer) / "tokenizer.json" if Path(tokenizer).is_dir() else Path(tokenizer)
    eos_token = eos_id(tok, eos)
    vocab = tok.get_vocab_size(with_added_tokens=True)
    dtype = np.dtype(np.uint16) if vocab <= 1 << 16 else np.dtype(np.uint32)
    out = Path(output)
    work = out / "_work"
    units, refused = safe_units(inputs)
    settings = {"tokenizer_sha256": file_sha256(tok_path), "seq_len": seq_len, "val_fraction": val_fraction,
                "eos": eos, "inputs": [[str(p), p.stat().st_size] for p, _ in units]}
    if refused:  # (only then: the settings of a pack without refused inputs are what they always were)
        settings["refused"] = [list(r) for r in refused]
    manifest_path = out / "manifest.json"
    if overwrite and (manifest_path.exists() or work.exists()):
        previous = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
        if previous.get("settings") != settings:
            for sub in (*SPLITS, "_work"):
                shutil.rmtree(out / sub, ignore_errors=True)
            manifest_path.unlink(missing_ok=True)
    if manifest_path.exists():
        done = json.loads(manifest_path.read_text())
        if done.get("settings") == settings:
            return done
        raise DataprepError(f"{out} holds a different pack ({manifest_path}); choose another --output or remove it")
    if work.exists() and (work / "settings.json").exists() and \
            json.loads((work / "settings.json").read_text()) != settings:
        raise DataprepError(f"{out} holds an unfinished pack with other settings; remove it or use another --output")
    for sub in (*SPLITS, "_work"):  # a killed pack's temporary files (a pack into this folder is one at a time)
        remove_temp_files(out / sub)
    try:
        work.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(exc, work, action="creating") from exc
    atomic_write_json(work / "settings.json", settings)
    parts: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
    per_source: dict[str, dict[str, int]] = {}
    total_tokens = 0
    progress = Progress(len(settings["inputs"]), "pack", quiet, unit="shards", counted="tokens")
    for index, (path, rel) in enumerate(units):
        marker = work / f"part-{index:05d}.json"
        if marker.exists():
            info = json.loads(marker.read_text())
        else:
            tables = _tables(path, batch_docs)
            writers: dict[str, _PartWriter] = {}
            sources: dict[str, dict[str, int]] = {}
            try:
                for s in SPLITS:
                    writers[s] = _PartWriter(out / s, index, dtype)
                for table in tables:
                    texts = table.column("text").to_pylist()
                    ids = table.column("id").to_pylist()
                    srcs = table.column("source").to_pylist()
                    docs = encode(tok, texts)
                    val = is_validation(ids, texts, val_fraction)
                    nbytes = [len(t.encode("utf-8")) for t in texts]
                    for split, mask in (("train", ~val), ("val", val)):
                        sel = np.flatnonzero(mask).tolist()
                        writers[split].write([docs[i] for i in sel], eos_token)
                        writers[split].n_bytes += sum(nbytes[i] for i in sel)
                        for i in sel:
                            entry = sources.setdefault(srcs[i], {"train": 0, "val": 0, "docs": 0})
                            entry[split] += len(docs[i]) + 1
                            entry["docs"] += 1
                info = {"input": rel, "splits": {s: w.close() for s, w in writers.items()}, "sources": sources}
            except BaseException:
                for w in writers.values():
                    w.abort()
                raise
            atomic_write_json(marker, info)
        for split in SPLITS:
            counts = info["splits"][split]
            parts[split].append({"tokens": f"{split}/tokens-{index:05d}.bin", "docs": f"{split}/docs-{index:05d}.idx",
                                 **counts})
            total_tokens += counts["n_tokens"]
        for src, c in info["sources"].items():
            agg = per_source.setdefault(src, {"train": 0, "val": 0, "docs": 0})
            for k in agg:
                agg[k] += c[k]
        progress.update(sum(info["splits"][split]["n_tokens"] for split in SPLITS))
    splits = {}
    for split in SPLITS:
        n_tok = sum(p["n_tokens"] for p in parts[split])
        splits[split] = {"parts": parts[split], "n_tokens": n_tok, "n_docs": sum(p["n_docs"] for p in parts[split]),
                         "n_bytes": sum(p["n_bytes"] for p in parts[split]),
                         "n_windows": max(0, (n_tok - 1) // seq_len)}
    manifest = {
        "format": FORMAT, "dtype": dtype.name, "seq_len": seq_len, "eos_id": eos_token, "eos": eos,
        "vocab_size": vocab,
        "tokenizer": {"path": str(tok_path), "sha256": settings["tokenizer_sha256"]},
        "val_fraction": val_fraction, "splits": splits, "tokens_per_source": dict(sorted(per_source.items())),
        "settings": settings,
    }
    if refused:
        manifest["refused"] = [{"input": rel, "reason": why} for rel, why in refused]
    atomic_write_json(manifest_path, manifest)
    shutil.rmtree(work, ignore_errors=True)
    return manifest
