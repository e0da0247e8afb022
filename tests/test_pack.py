"""Packing and the packed-shard reader: round trip, conservation, dtype switch, determinism, resume."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from conftest import ROOT, run_cli, tree_digest, write_jsonl

from dataprep.errors import DataprepError
from dataprep.pack import encode, load_tokenizer, pack
from dataprep.shards import PackedDataset, _Feistel

EOS = "<|endoftext|>"


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    run_cli("tokenizer", "train", "--input", str(ROOT / "sample_data" / "web"), "--vocab-size", "3000",
            "--out", str(out))
    return out


@pytest.fixture(scope="module")
def docs(tmp_path_factory) -> Path:
    """The web sample split into 12 JSONL shards (ids kept)."""
    folder = tmp_path_factory.mktemp("docs")
    from dataprep.io import read_frame

    df = read_frame([str(ROOT / "sample_data" / "web")]).select("id", "text")
    for i in range(12):
        write_jsonl(folder / f"part-{i:02d}.jsonl", df[i::12].to_dicts())
    return folder


def _texts_in_order(folder: Path, split_val: set[str] | None = None) -> list[tuple[str, str]]:
    rows = []
    for p in sorted(folder.glob("*.jsonl")):
        rows += [(r["id"], r["text"]) for r in pl.read_ndjson(p).iter_rows(named=True)]
    return rows


def test_round_trip_counts_and_windows(tmp_path, tokenizer, docs):
    m = pack([str(docs)], tokenizer, tmp_path / "p", seq_len=64, val_fraction=0.1, quiet=True)
    tok = load_tokenizer(tokenizer)
    rows = _texts_in_order(docs)
    total = sum(len(ids) + 1 for ids in encode(tok, [t for _, t in rows]))
    assert m["splits"]["train"]["n_tokens"] + m["splits"]["val"]["n_tokens"] == total
    assert sum(s["train"] + s["val"] for s in m["tokens_per_source"].values()) == total
    assert m["splits"]["val"]["n_docs"] > 0 and m["dtype"] == "uint16"
    for split in ("train", "val"):
        ds = PackedDataset(tmp_path / "p", split)
        stream = ds._slice(0, ds.n_tokens)
        # windows in order, each one's first seq_len tokens, then the tail, rebuild the stream exactly
        rebuilt = np.concatenate([ds[i]["tokens"][:-1] for i in range(len(ds))] +
                                 [stream[len(ds) * ds.seq_len:]])
        assert np.array_equal(rebuilt, stream)
        assert all(np.array_equal(ds[i]["tokens"][1:], stream[i * 64 + 1:i * 64 + 65]) for i in range(len(ds)))
        # decoding every token in order gives exactly the split's documents, in input order, EOS-joined
        from dataprep.pack import is_validation

        held = is_validation([i for i, _ in rows], [t for _, t in rows], 0.1)
        expected = [t for (_, t), v in zip(rows, held, strict=True) if v == (split == "val")]
        assert tok.decode(stream.tolist(), skip_special_tokens=False) == "".join(t + EOS for t in expected)
        # document starts: the token after each EOS
        window = ds[1]
        eos_at = np.flatnonzero(window["tokens"] == ds.eos_id)
        assert set((eos_at + 1)[eos_at + 1 < 65].tolist()) == set(window["doc_starts"].tolist())
    train = PackedDataset(tmp_path / "p")
    assert train.n_tokens == m["splits"]["train"]["n_tokens"]
    with pytest.raises(IndexError):
        train[len(train)]


def test_shuffled_order_is_a_seeded_permutation(tmp_path, tokenizer, docs):
    pack([str(docs)], tokenizer, tmp_path / "p", seq_len=32, val_fraction=0.0, quiet=True)
    ds = PackedDataset(tmp_path / "p")
    a = list(ds.order(seed=1, epoch=0))
    assert sorted(a) == list(range(len(ds))) and a != list(range(len(ds)))
    assert a == list(ds.order(seed=1, epoch=0)) and a != list(ds.order(seed=1, epoch=1))
    assert list(ds.order(seed=1, epoch=0, start=10)) == a[10:]
    for n in (1, 2, 3, 1000, 4097):
        perm = _Feistel(n, 5)
        assert sorted(perm(i) for i in range(n)) == list(range(n))


def test_deterministic_and_dtype_switch(tmp_path, tokenizer, docs):
    pack([str(docs)], tokenizer, tmp_path / "a", seq_len=64, quiet=True)
    pack([str(docs)], tokenizer, tmp_path / "b", seq_len=64, quiet=True)
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b")
    assert pack([str(docs)], tokenizer, tmp_path / "a", seq_len=64, quiet=True)["seq_len"] == 64  # done: no-op
    with pytest.raises(DataprepError, match="different pack"):
        pack([str(docs)], tokenizer, tmp_path / "a", seq_len=128, quiet=True)
    # a vocabulary past 65,536 ids needs uint32 tokens
    from tokenizers import Tokenizer

    big = Tokenizer.from_file(str(tokenizer))
    big.add_tokens([f"<extra_{i}>" for i in range(66_000)])
    big.save(str(tmp_path / "big.json"))
    m = pack([str(docs)], tmp_path / "big.json", tmp_path / "c", seq_len=64, quiet=True)
    assert m["dtype"] == "uint32" and m["vocab_size"] > 65536
    small, large = PackedDataset(tmp_path / "a"), PackedDataset(tmp_path / "c")
    assert np.array_equal(small._slice(0, small.n_tokens), large._slice(0, large.n_tokens))


def test_pack_resumes_after_sigkill(tmp_path, tokenizer, docs):
    clean = tmp_path / "clean"
    run_cli("pack", "--input", str(docs), "--tokenizer", str(tokenizer), "--seq-len", "64", "-o", str(clean), "-q")
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "dataprep.cli", "pack", "--input", str(docs), "--tokenizer", str(tokenizer),
           "--seq-len", "64", "-o", str(out), "-q"]
    proc = subprocess.Popen(cmd, cwd=ROOT)
    deadline = time.time() + 60
    while time.time() < deadline and not list((out / "_work").glob("part-*.json")):
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "manifest.json").exists(), "the pack finished before it could be killed"
    run_cli("pack", "--input", str(docs), "--tokenizer", str(tokenizer), "--seq-len", "64", "-o", str(out), "-q")
    assert tree_digest(out) == tree_digest(clean)
    assert json.loads((out / "manifest.json").read_text())["splits"] == json.loads(
        (clean / "manifest.json").read_text())["splits"]


def test_reader_imports_only_numpy_and_stdlib():
    code = ("import sys; import dataprep.shards; bad = [m for m in ('polars', 'pyarrow', 'tokenizers', 'torch', "
            "'fasttext', 'kenlm') if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_torch_loader(tmp_path, tokenizer, docs):
    torch = pytest.importorskip("torch")
    pack([str(docs)], tokenizer, tmp_path / "p", seq_len=32, val_fraction=0.0, quiet=True)
    ds = PackedDataset(tmp_path / "p")
    batches = list(ds.torch_loader(batch_size=4, seed=2, document_mask=True))
    x, y, doc = batches[0]
    assert x.shape == (4, 32) and x.dtype == torch.int64 and torch.equal(x[:, 1:], y[:, :-1])
    assert doc.shape == (4, 32) and bool((doc[:, 1:] >= doc[:, :-1]).all())
    assert len(batches) == len(ds) // 4
    resumed = list(ds.torch_loader(batch_size=4, seed=2, start_batch=3))
    assert all(torch.equal(a[0], b[0]) for a, b in zip(batches[3:], resumed, strict=True))
    rank0 = list(ds.torch_loader(batch_size=4, seed=2, rank=0, world_size=2))
    rank1 = list(ds.torch_loader(batch_size=4, seed=2, rank=1, world_size=2))
    assert torch.equal(rank0[0][0], batches[0][0]) and torch.equal(rank1[0][0], batches[1][0])
