"""MinHash-LSH dedup: datasketch bit-compatibility, LSH parameters, clustering, representatives, verification,
partitioned (out-of-core) grouping, and end-to-end determinism."""

from __future__ import annotations

import random
import re

import numpy as np
import polars as pl
import pytest
from conftest import ROOT, run_cli, run_with_1_and_2_workers
from datasketch import MinHash, MinHashLSH

from dataprep.dedup import MinHashDedup, MinHashDeduplicator, optimal_bands, shingle_hash32
from dataprep.dedup.minhash.cluster import connected_components
from dataprep.dedup.minhash.sketch import shingles, signatures, words_expr

REF = ROOT / "sample_data" / "reference" / "reference.parquet"


def _datasketch_signature(words: list[str], ngram: int, scheme: str, num_perm: int = 128, seed: int = 1):
    m = MinHash(num_perm=num_perm, seed=seed, hashfunc=shingle_hash32, scheme=scheme)
    if len(words) >= ngram:
        grams = ["\x1f".join(words[i:i + ngram]) for i in range(len(words) - ngram + 1)]
    else:
        grams = ["\x1f".join(words)] if words else []
    m.update_batch([g.encode("utf-8") for g in grams])
    return m.hashvalues


@pytest.mark.parametrize("scheme", ["affine32", "legacy"])
def test_signatures_bit_identical_to_datasketch(scheme):
    ref = pl.read_parquet(REF).head(60)
    df = pl.concat([ref.select("id", "text"),
                    pl.DataFrame({"id": ["short", "one", "empty", "zh"],
                                  "text": ["two words", "word", "", "这是一个中文的测试文本。"]})])
    for seed, ngram in ((1, 5), (42, 3)):
        doc, hashes = shingles(df, ngram)
        sig = signatures(doc, hashes, df.height, 128, seed, scheme)
        words = df.select(words_expr()).to_series().to_list()
        for i, w in enumerate(words):
            want = _datasketch_signature(w, ngram, scheme, seed=seed)
            assert np.array_equal(sig[i].astype(np.uint64), np.asarray(want, dtype=np.uint64)), (i, seed)


@pytest.mark.parametrize("threshold,num_perm", [(0.8, 128), (0.75, 112), (0.5, 128), (0.9, 256), (0.7, 64)])
def test_bands_rows_as_datasketch(threshold, num_perm):
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    assert optimal_bands(threshold, num_perm) == (lsh.b, lsh.r)
    step = MinHashDedup(threshold=threshold, num_perm=num_perm)
    assert (step.bands, step.rows) == (lsh.b, lsh.r)
    assert (MinHashDedup(bands=14, rows=8, num_perm=112).bands, 14) == (14, 14)


def test_connected_components_chain_and_star():
    label = connected_components(7, np.array([0, 1, 2, 5]), np.array([1, 2, 3, 6]))
    assert label.tolist() == [0, 0, 0, 0, 4, 5, 5]


@pytest.fixture(scope="module")
def planted() -> pl.DataFrame:
    ref = pl.read_parquet(REF).filter(pl.col("text").str.len_chars() > 3000).head(40)
    rows = []
    for i, (_, text) in enumerate(ref.select("id", "text").iter_rows()):
        rows.append({"id": f"{i:03d}-orig", "text": text, "source": "web", "score": 0.1})
        if i % 2 == 0:  # a near copy (a word changed, two added: Jaccard about 0.97) from another source, longer
            copy = re.sub(r"\b(the|a|is|of)\b", "one", text, count=1) + " Extra words."
            rows.append({"id": f"{i:03d}-copy", "text": copy, "source": "wiki", "score": 0.9})
    return pl.DataFrame(rows)


def test_planted_near_duplicates_found(planted):
    step = MinHashDeduplicator()
    kept, removed = step.split(planted)
    copies = planted.filter(pl.col("id").str.ends_with("-copy")).height
    # LSH is probabilistic: at Jaccard about 0.95 and 9 x 13 bands, 0.999 of pairs collide in theory; a
    # given seed can miss one whose signatures happen to disagree in every band
    assert removed.height >= copies - 1 and removed["id"].str.ends_with("-copy").all()
    assert (removed["duplicate_of"] == removed["id"].str.replace("-copy", "-orig")).all()
    assert set(removed["reason"]) == {"duplicate"} and kept.height + removed.height == planted.height


@pytest.mark.parametrize("params,winner", [
    ({"keep": "longest"}, "-copy"),
    ({"keep": "score", "score_column": "score"}, "-copy"),
    ({"source_priority": ["wiki"]}, "-copy"),
    ({"keep": "id"}, "-copy"),  # "000-copy" < "000-orig"
    ({}, "-orig"),  # first in corpus order
])
def test_representative_rules(planted, params, winner):
    kept, removed = MinHashDedup(**params).split(planted)
    loser = "-orig" if winner == "-copy" else "-copy"
    assert removed["id"].str.ends_with(loser).all() and removed.height >= planted["id"].str.ends_with("-copy").sum() - 1


def test_verification_drops_false_positives():
    rng = random.Random(1)
    vocab = [f"w{i}" for i in range(50)]
    base = [rng.choice(vocab) for _ in range(200)]
    texts = [" ".join(base)] + [" ".join(base[:100] + [rng.choice(vocab) for _ in range(100)]) for _ in range(5)]
    df = pl.DataFrame({"id": [f"d{i}" for i in range(6)], "text": texts})
    loose = dict(threshold=0.9, bands=64, rows=1, num_perm=64)  # one-row bands: almost everything collides
    _, unverified = MinHashDedup(verify=False, **loose).split(df)
    kept, verified = MinHashDedup(verify=True, **loose).split(df)
    assert unverified.height >= 4 and verified.height == 0


def test_partitioned_grouping_equals_in_memory(planted, tmp_path):
    one = MinHashDedup()
    many = MinHashDedup(memory_mb=0.001)  # a 1 KB budget: many partitions
    k1 = one.keys(planted).with_row_index("_ord").with_columns(pl.col("_ord").cast(pl.Int64))
    d1, s1 = one.fit(k1)
    d2, s2 = many.fit(k1)
    assert s2["partitions"] > 1 and s1["partitions"] == 1
    assert d1.equals(d2) and s1["clusters"] == s2["clusters"]


def test_recipe_minhash_workers_and_stats(tmp_path, planted):
    rows = planted.drop("source").to_dicts()
    stats = run_with_1_and_2_workers(tmp_path, {"a.jsonl": rows[:30], "b.jsonl": rows[30:]},
                                     [{"minhash_dedup": {"threshold": 0.8}}])
    entry = stats["by_step"]["minhash_dedup"]
    found = MinHashDedup().split(planted)[1].height  # the notebook face decides exactly as the run does
    assert entry["duplicates"] == found and entry["clusters"] == found and entry["cluster_sizes"] == {"2": found}
    assert (entry["bands"], entry["rows"]) == (9, 13)
    shown = run_cli("inspect", str(tmp_path / "o1"), "--duplicates", "-n", "1").stdout
    assert "duplicate_of" in shown or "kept" in shown


def test_bad_parameters():
    with pytest.raises(ValueError):
        MinHashDedup(bands=20, rows=10, num_perm=128)
    with pytest.raises(ValueError):
        MinHashDedup(keep="score")
    with pytest.raises(ValueError):
        MinHashDedup(bands=4)


# ---- line / paragraph dedup (CCNet) ---------------------------------------------------------------------------


def test_paragraph_dedup_keeps_first_occurrence():
    from dataprep.dedup import ParagraphDedup

    df = pl.DataFrame({"id": ["a", "b", "c"], "text": [
        "Intro line one.\nShared footer 2024.\nA unique line of a.",
        "Another intro.\nShared footer 2025.\nA unique line of b.",  # digits normalize: the footer repeats
        "Intro line one.\nShared footer 1999.",  # nothing new: emptied, rejected
    ]})
    kept, rejected = ParagraphDedup().split(df)
    assert kept["text"].to_list() == ["Intro line one.\nShared footer 2024.\nA unique line of a.",
                                      "Another intro.\nA unique line of b."]
    assert rejected["id"].to_list() == ["c"] and rejected["reason"].to_list() == ["empty_after_dedup"]
    paras = pl.DataFrame({"id": ["x", "y"], "text": ["P one.\n\nP two,\nstill two.", "P two,\nstill two.\n\nP3."]})
    kept, _ = ParagraphDedup(unit="paragraph").split(paras)
    assert kept["text"].to_list() == ["P one.\n\nP two,\nstill two.", "P3."]


def test_paragraph_dedup_in_a_recipe(tmp_path):
    rows = [{"id": f"d{i}", "text": f"Unique opening number {'abcdefghij'[i]}.\nSubscribe to our newsletter!"}
            for i in range(10)]
    rows.append({"id": "all-repeat", "text": "Subscribe to our newsletter!"})
    stats = run_with_1_and_2_workers(tmp_path, {"a.jsonl": rows[:6], "b.jsonl": rows[6:]}, ["paragraph_dedup"])
    entry = stats["by_step"]["paragraph_dedup"]
    assert entry["counters"]["units_removed"] == 10 and entry["counters"]["documents_edited"] == 10
    assert stats["by_reason"] == {"paragraph_dedup/empty_after_dedup": 1}
    kept = pl.concat([pl.read_ipc(p) for p in sorted((tmp_path / "o1" / "kept").glob("*.arrow"))])
    assert kept.filter(pl.col("id") == "d0")["text"][0].endswith("newsletter!")
    assert kept.filter(pl.col("id") == "d1")["text"][0] == "Unique opening number b."


def test_compiled_kernel_equals_numpy(monkeypatch):
    import dataprep.dedup.minhash.sketch as mh

    if mh._kernels is None:
        pytest.skip("the C kernel is not built here; numpy is what runs")
    df = pl.read_parquet(REF)
    doc, hashes = shingles(df, 5)
    for num_perm in (128, 100, 7):
        fast = signatures(doc, hashes, df.height, num_perm, 3)
        monkeypatch.setattr(mh, "_kernels", None)
        slow = signatures(doc, hashes, df.height, num_perm, 3)
        monkeypatch.undo()
        assert np.array_equal(fast, slow), num_perm


def test_annotate_face_of_global_steps(planted):
    from dataprep.dedup import ExactDedup, ParagraphDedup

    marked = MinHashDedup().annotate(planted)
    assert marked.height == planted.height and "duplicate_of" in marked.columns
    assert marked.filter(pl.col("duplicate_of").is_not_null())["id"].str.ends_with("-copy").all()
    exact = ExactDedup().annotate(pl.DataFrame({"id": ["a", "b"], "text": ["Same text.", "same   TEXT."]}))
    assert exact["duplicate_of"].to_list() == [None, "a"]
    edited = ParagraphDedup().annotate(pl.DataFrame({"id": ["a", "b"], "text": ["x line\nshared", "shared\ny"]}))
    assert edited["text"].to_list() == ["x line\nshared", "y"]
