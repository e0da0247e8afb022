"""Tokenizers: train a byte-level BPE on cleaned shards (streaming), or extend an existing tokenizer with the
most useful new tokens for a language, as Chinese-LLaMA extended LLaMA's vocabulary (Cui et al. 2023).

Both stream documents in batches from any input dataprep reads, so the corpus is never held in memory
(``tokenizers`` keeps only word counts).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from dataprep.errors import DataprepError
from dataprep.io.writers import atomic_write_bytes
from dataprep.pack import encode, iter_batches, load_tokenizer
from dataprep.progress import Progress

DEFAULT_SPECIAL = ["<|endoftext|>", "<|pad|>"]


def iter_texts(inputs: list[str], batch_docs: int = 1000, limit_docs: int | None = None) -> Iterator[list[str]]:
    """Batches of document texts from ``inputs`` (files, folders, globs)."""
    seen = 0
    for _, tables in iter_batches(inputs, batch_docs):
        for table in tables:
            texts = table.column("text").to_pylist()
            if limit_docs is not None:
                texts = texts[: max(0, limit_docs - seen)]
            if texts:
                yield texts
            seen += len(texts)
            if limit_docs is not None and seen >= limit_docs:
                return


def _save(tok: Any, out: str | Path) -> Path:
    out = Path(out)
    if out.suffix != ".json":
        out = out / "tokenizer.json"
    atomic_write_bytes(out, tok.to_str().encode("utf-8"))
    return out


def train_bpe(inputs: list[str], vocab_size: int, out: str | Path, special_tokens: list[str] | None = None,
              min_frequency: int = 2, limit_docs: int | None = None, quiet: bool = True) -> dict[str, Any]:
    """Train a byte-level BPE (GPT-2 style: bytes as the base alphabet, so no text is unknown)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    special = special_tokens or DEFAULT_SPECIAL
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=special,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    n_docs = 0
    progress = Progress(0, "tokenizer train", quiet, unit="batches", counted="docs")

    def batches() -> Iterator[list[str]]:
        nonlocal n_docs
        for texts in iter_texts(inputs, limit_docs=limit_docs):
            n_docs += len(texts)
            progress.update(len(texts))
            yield texts

    tok.train_from_iterator(batches(), trainer=trainer)
    if n_docs == 0:
        raise DataprepError("no documents to train a tokenizer on")
    path = _save(tok, out)
    return {"tokenizer": str(path), "vocab_size": tok.get_vocab_size(), "documents": n_docs,
            "special_tokens": special}


def tokens_per_char(tok: Any, texts: list[str]) -> float:
    chars = sum(len(t) for t in texts)
    return sum(len(ids) for ids in encode(tok, texts)) / max(chars, 1)


def extend(base: str | Path, corpus: list[str], add: int, out: str | Path, held_out: float = 0.1,
           candidate_vocab: int | None = None, limit_docs: int | None = 200_000) -> dict[str, Any]:
    """Add up to ``add`` new tokens for the language of ``corpus`` to the BPE tokenizer ``base``.

    As Chinese-LLaMA (learn the new language's vocabulary, merge it into the base one, keep the base ids):
    a fresh BPE is trained on the corpus *with the base tokenizer's own normalizer and pre-tokenizer*, so its
    merges speak the same alphabet; its merges are then taken in the order it learned them (most frequent
    first) whenever both halves are already in the vocabulary and the result is new, and appended after the
    base merges with new ids. Base tokens keep their ids (a model's embeddings keep their rows). Reports
    tokens per character before and after on held-out documents of the corpus.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    base_tok = load_tokenizer(base)
    spec = json.loads(base_tok.to_str())
    if spec.get("model", {}).get("type") != "BPE":
        raise DataprepError(f"{base}: only BPE tokenizers can be extended (this one is {spec['model'].get('type')})")
    texts = [t for batch in iter_texts(corpus, limit_docs=limit_docs) for t in batch]
    if len(texts) < 2:
        raise DataprepError("the corpus needs at least 2 documents (some are held out)")
    rng = np.random.default_rng(0)
    held = rng.random(len(texts)) < held_out
    if held.all() or not held.any():
        held = np.zeros(len(texts), dtype=bool)
        held[-max(1, len(texts) // 10):] = True
    train_texts = [t for t, h in zip(texts, held, strict=True) if not h]
    test_texts = [t for t, h in zip(texts, held, strict=True) if h]
    # a fresh BPE with the base pipeline (normalizer, pre-tokenizer), trained on the new language
    learner = Tokenizer.from_str(base_tok.to_str())
    learner.model = models.BPE()
    byte_level = "ByteLevel" in json.dumps(spec.get("pre_tokenizer"))
    trainer = trainers.BpeTrainer(vocab_size=candidate_vocab or max(4 * add, 2000), min_frequency=2,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet() if byte_level else [],
                                  show_progress=False)
    learner.train_from_iterator((train_texts[i:i + 1000] for i in range(0, len(train_texts), 1000)), trainer)
    learned = json.loads(learner.to_str())["model"]["merges"]
    vocab: dict[str, int] = spec["model"]["vocab"]
    merges: list = spec["model"]["merges"]
    next_id = 1 + max([*vocab.values(), *(t["id"] for t in spec.get("added_tokens", []))])
    added: list[str] = []
    for merge in learned:
        left, right = merge.split(" ", 1) if isinstance(merge, str) else merge
        piece = left + right
        if piece in vocab or left not in vocab or right not in vocab:
            continue
        vocab[piece] = next_id
        next_id += 1
        merges.append(f"{left} {right}" if merges and isinstance(merges[0], str) else [left, right])
        added.append(piece)
        if len(added) >= add:
            break
    before = tokens_per_char(base_tok, test_texts)
    new_tok = Tokenizer.from_str(json.dumps(spec))
    after = tokens_per_char(new_tok, test_texts)
    path = _save(new_tok, out)
    decoded = [d for d in (new_tok.decode([vocab[p]]) for p in added) if d.strip() and "\ufffd" not in d][:10]
    return {"tokenizer": str(path), "added": len(added), "vocab_size": new_tok.get_vocab_size(),
            "tokens_per_char_before": before, "tokens_per_char_after": after, "held_out_documents": len(test_texts),
            "examples": decoded}
