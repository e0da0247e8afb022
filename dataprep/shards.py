"""Reading packed token shards: memory-mapped windows of ``seq_len + 1`` tokens, document boundaries inside
each window (for document-masked attention), a seeded shuffled order, and a torch ``DataLoader`` wrapper.

Imports only numpy and the standard library (torch only inside :meth:`PackedDataset.torch_loader`), so a GPU
box without the cleaning dependencies can train on the shards.

Layout written by ``dataprep pack`` (``dataprep/pack.py``)::

    PACKED/manifest.json                       dtype, seq_len, eos_id, tokenizer hash, splits and their parts
    PACKED/{train,val}/tokens-NNNNN.bin        the token stream of one input shard (little-endian uint16/uint32)
    PACKED/{train,val}/docs-NNNNN.idx          int64: where each document starts in that part's stream

A split's parts concatenate into one token stream; window ``i`` is tokens ``[i*seq_len, i*seq_len + seq_len
+ 1)`` of it (inputs are the first ``seq_len`` tokens, targets the last ``seq_len``), so documents continue
across windows and nothing is padded. Memory: per part a memmap and its offset; nothing is loaded whole.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = "dataprep-packed/1"


class _Feistel:
    """A seeded pseudo-random permutation of ``range(n)`` computed on the fly (no array of n indices): a
    4-round Feistel network on the smallest even-bit domain >= n, with cycle walking."""

    def __init__(self, n: int, seed: int) -> None:
        self.n = n
        bits = max(2, (max(n - 1, 1)).bit_length())
        bits += bits % 2
        self.half = bits // 2
        self.mask = (1 << self.half) - 1
        rng = np.random.default_rng(seed)
        self.keys = [int(k) for k in rng.integers(0, 2**32, 4)]

    def _round(self, x: int, key: int) -> int:
        h = (x * 0x9E3779B1 + key) & 0xFFFFFFFF
        h ^= h >> 15
        h = (h * 0x85EBCA6B) & 0xFFFFFFFF
        h ^= h >> 13
        return h & self.mask

    def __call__(self, i: int) -> int:
        x = i
        while True:
            left, right = x >> self.half, x & self.mask
            for key in self.keys:
                left, right = right, left ^ self._round(right, key)
            x = (left << self.half) | right
            if x < self.n:
                return x


class PackedDataset:
    """Windows of a packed split, memory-mapped.

    ``ds[i]`` is a dict: ``tokens`` (int64, ``seq_len + 1``), ``doc_starts`` (positions in the window where a
    document begins). ``ds.order(seed, epoch)`` iterates window indices in a seeded shuffled order.
    """

    def __init__(self, path: str | Path, split: str = "train") -> None:
        self.path = Path(path)
        manifest_path = self.path / "manifest.json"
        if not manifest_path.exists():
            raise FileNotFoundError(f"{manifest_path} does not exist: not a packed folder (run 'dataprep pack')")
        self.manifest: dict[str, Any] = json.loads(manifest_path.read_text())
        if self.manifest.get("format") != FORMAT:
            raise ValueError(f"{manifest_path}: format {self.manifest.get('format')!r}, expected {FORMAT!r}")
        if split not in self.manifest["splits"]:
            raise KeyError(f"no split {split!r} in {self.path} (splits: {', '.join(self.manifest['splits'])})")
        self.split = split
        self.seq_len = int(self.manifest["seq_len"])
        self.dtype = np.dtype(self.manifest["dtype"]).newbyteorder("<")
        self.eos_id = int(self.manifest["eos_id"])
        info = self.manifest["splits"][split]
        self._tokens = []
        self._docs = []
        starts = [0]
        for part in info["parts"]:
            tok = np.memmap(self.path / part["tokens"], dtype=self.dtype, mode="r") if part["n_tokens"] else \
                np.zeros(0, self.dtype)
            doc = np.memmap(self.path / part["docs"], dtype="<i8", mode="r") if part["n_docs"] else \
                np.zeros(0, np.int64)
            self._tokens.append(tok)
            self._docs.append(doc)
            starts.append(starts[-1] + len(tok))
        self._part_start = np.array(starts, dtype=np.int64)
        self.n_tokens = int(self._part_start[-1])

    def __len__(self) -> int:
        return max(0, (self.n_tokens - 1) // self.seq_len)

    def _slice(self, lo: int, hi: int) -> np.ndarray:
        """Tokens ``[lo, hi)`` of the split's stream, across parts."""
        out = []
        p = int(np.searchsorted(self._part_start, lo, side="right")) - 1
        while lo < hi and p < len(self._tokens):
            base = int(self._part_start[p])
            take = min(hi, int(self._part_start[p + 1])) - lo
            if take > 0:
                out.append(np.asarray(self._tokens[p][lo - base: lo - base + take]))
                lo += take
            p += 1
        return np.concatenate(out).astype(np.int64) if out else np.zeros(0, np.int64)

    def doc_starts(self, lo: int, hi: int) -> np.ndarray:
        """Positions, relative to ``lo``, where a document starts within ``[lo, hi)``."""
        found = []
        p = int(np.searchsorted(self._part_start, lo, side="right")) - 1
        while p < len(self._docs) and self._part_start[p] < hi:
            base = int(self._part_start[p])
            idx = self._docs[p]
            a, b = np.searchsorted(idx, [lo - base, hi - base])
            found.append(np.asarray(idx[a:b]) + base - lo)
            p += 1
        return np.concatenate(found).astype(np.int64) if found else np.zeros(0, np.int64)

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        if not 0 <= i < len(self):
            raise IndexError(f"window {i} out of range 0..{len(self) - 1}")
        lo = i * self.seq_len
        hi = lo + self.seq_len + 1
        return {"tokens": self._slice(lo, hi), "doc_starts": self.doc_starts(lo, hi)}

    def order(self, seed: int = 0, epoch: int = 0, start: int = 0) -> Iterator[int]:
        """Window indices of one epoch in a seeded shuffled order (a different order per epoch), from
        position ``start`` (to resume exactly)."""
        perm = _Feistel(len(self), seed * 1_000_003 + epoch)
        for k in range(start, len(self)):
            yield perm(k)

    def torch_loader(self, batch_size: int, seed: int = 0, epoch: int = 0, start_batch: int = 0, rank: int = 0,
                     world_size: int = 1, document_mask: bool = False, num_workers: int = 0,
                     prefetch_factor: int = 4) -> Any:
        """A ``torch.utils.data.DataLoader`` of ``(x, y)`` (and a document id per position when
        ``document_mask``), each ``(batch_size, seq_len)`` int64, in the seeded order of ``epoch``, skipping
        ``start_batch`` batches of this rank (exact resume). With several ranks each takes every
        ``world_size``-th batch."""
        import torch
        from torch.utils.data import DataLoader, IterableDataset

        ds = self

        class _Windows(IterableDataset):
            def __iter__(self):  # type: ignore[override]
                info = torch.utils.data.get_worker_info()
                worker, n_workers = (info.id, info.num_workers) if info else (0, 1)
                order = ds.order(seed, epoch)
                batch: list[int] = []
                b = 0
                for idx in order:
                    batch.append(idx)
                    if len(batch) < batch_size:
                        continue
                    mine = b % world_size == rank and b // world_size >= start_batch
                    local = b // world_size
                    if mine and local % n_workers == worker:
                        yield _collate(ds, batch, document_mask)
                    batch = []
                    b += 1

        def _identity(x: Any) -> Any:
            return x

        return DataLoader(_Windows(), batch_size=None, num_workers=num_workers, collate_fn=_identity,
                          pin_memory=torch.cuda.is_available(),
                          prefetch_factor=prefetch_factor if num_workers else None,
                          persistent_workers=bool(num_workers))


def _collate(ds: PackedDataset, batch: list[int], document_mask: bool) -> Any:
    import torch

    windows = [ds[i] for i in batch]
    tokens = torch.from_numpy(np.stack([w["tokens"] for w in windows]))
    x, y = tokens[:, :-1].contiguous(), tokens[:, 1:].contiguous()
    if not document_mask:
        return x, y
    docs = np.zeros((len(batch), ds.seq_len), dtype=np.int64)
    for r, w in enumerate(windows):
        starts = w["doc_starts"][w["doc_starts"] < ds.seq_len]
        marks = np.zeros(ds.seq_len, dtype=np.int64)
        marks[starts] = 1
        docs[r] = np.cumsum(marks)
    return x, y, torch.from_numpy(docs)
