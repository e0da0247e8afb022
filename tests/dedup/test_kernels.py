"""The compiled kernels (``dataprep/dedup/_kernels.c``) give exactly what their polars/numpy fallbacks give:
xxh3-64 as the xxhash package, MinHash shingles and signatures, Gopher's n-gram measures and CCNet's line
normalization, on the sample documents and on random text full of the hard cases (NFKC folds, upper case
outside ASCII, CJK, combining marks, controls, CRLF, words longer than 240 bytes, nulls)."""

from __future__ import annotations

import random

import numpy as np
import polars as pl
import pytest
import xxhash
from conftest import ROOT

import dataprep.dedup.minhash.sketch as mh
import dataprep.lm as lm
import filters.gopher as gopher
from dataprep.normalize import CJK_CLASS

pytestmark = pytest.mark.skipif(mh._kernels is None, reason="the C kernels are not built here")

SAMPLES = ["web", "reference", "contacts", "notes"]
PIECES = list("abcXYZ  \t\n\r\n..,!?'’-_#*0123456789") + [
    "é", "É", "ß", "ﬁ", "Ⅸ", "ｆｕｌｌ", "中", "文", "の", "カ", "\u00a0", "\u3000", "\x00", "\x01", "\x1f", "\x7f",
    "🙂", "\u0301", "ǅ", "İ", "Σ", "٣", "①", "\u2028", "\u0085", "\U0010fffd", "\U000e0101", "\n\n", "\n\n\n",
    "x" * 300, "Ab" * 130, "https://example.com/a.b ", "U.S.A.", "3.14", "don't"]


def _fuzz(n: int, seed: int = 0) -> pl.DataFrame:
    rng = random.Random(seed)
    texts = [None if rng.random() < 0.02 else "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 120)))
             for _ in range(n)]
    return pl.DataFrame({"id": [str(i) for i in range(n)], "text": texts}, schema={"id": pl.String, "text": pl.String})


@pytest.fixture(scope="module")
def frames() -> list[pl.DataFrame]:
    from dataprep.io import read_frame

    sample = read_frame([str(ROOT / "sample_data" / s) for s in SAMPLES]).select("id", "text")
    return [sample, _fuzz(1500)]


def test_xxh3_equals_xxhash():
    rng = random.Random(1)
    for length in [*range(0, 300), 511, 512, 1023, 1024, 1025, 2048, 5000]:
        data = bytes(rng.getrandbits(8) for _ in range(length))
        assert mh._kernels.xxh3_64(data) == xxhash.xxh3_64_intdigest(data), length


def test_shingles_and_signatures_bit_identical(frames):
    for df in frames:
        for ngram in (1, 3, 5):
            doc, hashes = mh.shingles(df, ngram)
            ref_doc, ref_hashes = mh._shingles_polars(df, ngram)
            assert np.array_equal(doc, ref_doc) and np.array_equal(hashes, ref_hashes), ngram
            assert np.array_equal(mh.signatures(doc, hashes, df.height, 64, 7),
                                  mh.signatures(ref_doc, ref_hashes, df.height, 64, 7))


def test_class_tables_cover_every_code_point():
    """Above the tables' limit the regexes match nothing: every code point there is an ordinary character."""
    cps = np.arange(mh._CLASS_LIMIT, 0x110000).astype("<u4")
    chars = pl.Series([cps.tobytes().decode("utf-32-le")]).str.split("").explode()
    assert not chars.str.contains(rf"^[{CJK_CLASS}\s\p{{P}}\p{{S}}\d]$").any()
    assert lm._CLASS_LIMIT == mh._CLASS_LIMIT


def test_gopher_ngrams_equal_numpy(frames, monkeypatch):
    step = gopher.GopherRepetition(cjk_ngrams=True)
    for df in frames:
        fast = step.annotate(df)
        monkeypatch.setattr(gopher, "_kernels", None)
        slow = step.annotate(df)
        monkeypatch.undo()
        assert fast.equals(slow, null_equal=True)


def test_lm_normalize_lines_equals_expression(frames):
    for df in frames:
        lines = df.select(pl.col("text").str.split("\n")).explode("text").to_series()
        want = lines.fill_null("").to_frame("t").select(lm.lm_normalize(pl.col("t"))).to_series()
        got = lm.lm_normalize_lines(lines)
        assert got.dtype == pl.String and got.to_list() == want.to_list()


def test_kernels_refuse_bad_offsets():
    with pytest.raises(ValueError, match="offsets"):
        mh._kernels.shingles32(b"abc", np.array([0, 5], np.int64), mh._class_table(), 5)
    with pytest.raises(ValueError, match="offsets"):
        mh._kernels.lm_tokens(b"abc", np.array([2, 1], np.int64), lm._token_classes())
    out = np.empty((1, 1))
    with pytest.raises(ValueError, match="offsets"):
        mh._kernels.gopher_ngrams(b"ab", np.array([0, 1, 2], np.int64), np.array([0, 3], np.int64),
                                  np.array([2], np.int32), np.array([], np.int32), out)
