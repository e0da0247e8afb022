"""KenLM language models: text normalization shared by training and scoring, training with KenLM's
``lmplz`` and ``build_binary`` (built from the kenlm source distribution on PyPI when they are not on PATH),
and the perplexity percentiles CCNet buckets documents by.

Normalization follows CCNet (Wenzek et al. 2020; ``cc_net/text_normalizer.py``): lower case, accents
stripped, digits replaced by 0; punctuation is split off as tokens; CJK characters are separated by spaces,
as CCNet's SentencePiece models would cut them. Whatever a model is trained on must be normalized the same
way it is later scored, so both go through :func:`lm_normalize` (:func:`lm_normalize_lines` computes the
same for a Series, its token steps in the compiled kernel).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from dataprep.errors import DataprepError
from dataprep.normalize import CJK_CLASS

try:  # the compiled token pass (setup.py, optional): the same strings as the polars expression
    from dataprep.dedup import _kernels
except ImportError:  # pragma: no cover - no C compiler at install time
    _kernels = None

KENLM_APT = ("libboost-program-options-dev", "libboost-system-dev", "libboost-thread-dev", "libboost-test-dev")


def lm_normalize(expr: pl.Expr) -> pl.Expr:
    """One line of text as KenLM tokens separated by single spaces."""
    return (
        expr.str.normalize("NFD")
        .str.replace_all(r"\p{Mn}", "")
        .str.normalize("NFC")
        .str.to_lowercase()
        .str.replace_all(r"\d", "0")
        .str.replace_all(rf"([\p{{P}}\p{{S}}{CJK_CLASS}])", " $1 ")
        .str.replace_all(r"\s+", " ")
        .str.strip_chars()
    )


def lm_normalize_lines(lines: pl.Series) -> pl.Series:
    """:func:`lm_normalize` of every string of ``lines`` (nulls become ""), as a String Series of the same length.

    With the compiled kernel: the Unicode folds (NFD, accent strip, NFC, lower case) in polars, only for lines
    that are not pure ASCII (for the others they change nothing but A-Z); then digits, punctuation and white
    space in one C pass (``_kernels.lm_tokens``) with a code point table taken from the same regexes. Without
    it, the polars expression.
    """
    lines = lines.fill_null("").rechunk()
    if _kernels is None or getattr(_kernels, "lm_tokens", None) is None:
        return lines.to_frame("t").select(lm_normalize(pl.col("t"))).to_series().alias(lines.name)
    from dataprep.dedup.minhash.sketch import arrow_string_buffers

    other = np.flatnonzero(lines.str.len_bytes().to_numpy() != lines.str.len_chars().to_numpy())
    if len(other):
        folded = lines.gather(other).str.normalize("NFD").str.replace_all(r"\p{Mn}", "").str.normalize("NFC") \
            .str.to_lowercase()
        lines = lines.scatter(other, folded)
    data, offsets = arrow_string_buffers(lines.to_arrow(compat_level=pl.CompatLevel.oldest()))
    out_data, out_offsets = _kernels.lm_tokens(data, offsets, _token_classes())
    arr = pa.LargeStringArray.from_buffers(len(lines), pa.py_buffer(out_offsets), pa.py_buffer(out_data))
    return pl.Series(lines.name, arr, dtype=pl.String)


_CLASS_LIMIT = 0x40000  # no white space, punctuation, symbol, digit or CJK character lies above (tests check)


@functools.lru_cache(maxsize=1)
def _token_classes() -> bytes:
    """For each code point below U+40000, what :func:`lm_normalize`'s regexes make of it, by polars' own
    engine: 0 other, 1 white space (``\\s``), 2 a token of its own (``\\p{P}``, ``\\p{S}``, CJK), 3 a digit
    (``\\d``). About 50 ms, once per process."""
    cps = np.r_[np.arange(0, 0xD800), np.arange(0xE000, _CLASS_LIMIT)].astype("<u4")
    chars = pl.Series([cps.tobytes().decode("utf-32-le")]).str.split("").explode()
    classes = chars.to_frame("c").select(
        pl.when(pl.col("c").str.contains(r"^\d$")).then(3)
        .when(pl.col("c").str.contains(rf"^[\p{{P}}\p{{S}}{CJK_CLASS}]$")).then(2)
        .when(pl.col("c").str.contains(r"^\s$")).then(1)
        .otherwise(0).cast(pl.UInt8)
    ).to_series().to_numpy()
    table = np.zeros(_CLASS_LIMIT, dtype=np.uint8)
    table[cps] = classes
    return table.tobytes()


def cache_dir() -> Path:
    return Path(os.environ.get("DATAPREP_CACHE", Path.home() / ".cache" / "dataprep"))


def kenlm_binaries(build: bool = True, quiet: bool = False) -> tuple[str, str]:
    """Paths of ``lmplz`` and ``build_binary``: on PATH, in the cache, or built now from the kenlm sdist."""
    on_path = shutil.which("lmplz"), shutil.which("build_binary")
    if all(on_path):
        return on_path  # type: ignore[return-value]
    bindir = cache_dir() / "kenlm" / "bin"
    cached = bindir / "lmplz", bindir / "build_binary"
    if all(p.exists() for p in cached):
        return str(cached[0]), str(cached[1])
    if not build:
        raise DataprepError("KenLM's lmplz and build_binary are not on PATH and not built yet")
    _build_kenlm(bindir, quiet)
    return str(cached[0]), str(cached[1])


def _missing_prerequisites() -> list[str]:
    missing = [tool for tool in ("cmake", "make", "g++") if shutil.which(tool) is None]
    for header, pkg in (("boost/program_options.hpp", KENLM_APT[0]), ("boost/system/error_code.hpp", KENLM_APT[1]),
                        ("boost/thread.hpp", KENLM_APT[2]), ("boost/test/unit_test.hpp", KENLM_APT[3])):
        if not any((Path(d) / header).exists() for d in ("/usr/include", "/usr/local/include")):
            missing.append(pkg)
    return missing


def _build_kenlm(bindir: Path, quiet: bool) -> None:
    missing = _missing_prerequisites()
    if missing:
        raise DataprepError(
            "building KenLM's lmplz needs: " + ", ".join(missing) + ". On Debian/Ubuntu: apt-get install cmake "
            "g++ make " + " ".join(KENLM_APT) + " (or put lmplz and build_binary on PATH)")
    log = (lambda m: None) if quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    with tempfile.TemporaryDirectory(prefix="dataprep-kenlm-") as tmp:
        log("lm: downloading the kenlm source distribution from PyPI")
        run = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", "kenlm",
                              "kenlm", "-d", tmp], capture_output=True, text=True)
        archives = list(Path(tmp).glob("kenlm-*.tar.gz"))
        if run.returncode != 0 or not archives:
            raise DataprepError(f"could not download the kenlm sdist: {run.stderr.strip()[-500:]}")
        with tarfile.open(archives[0]) as tar:
            tar.extractall(tmp, filter="data")
        src = next(p for p in Path(tmp).iterdir() if p.is_dir() and p.name.startswith("kenlm-"))
        build = src / "build"
        build.mkdir()
        log("lm: building lmplz and build_binary (about 30 s)")
        for cmd in (["cmake", "..", "-DCMAKE_BUILD_TYPE=Release", "-DKENLM_MAX_ORDER=6"],
                    ["make", f"-j{os.cpu_count() or 2}", "lmplz", "build_binary"]):
            res = subprocess.run(cmd, cwd=build, capture_output=True, text=True)
            if res.returncode != 0:
                raise DataprepError(f"building KenLM failed at '{' '.join(cmd)}': {res.stderr.strip()[-800:]}")
        bindir.mkdir(parents=True, exist_ok=True)
        for name in ("lmplz", "build_binary"):
            tmp_dest = bindir / f".{name}.tmp"
            shutil.copy2(build / "bin" / name, tmp_dest)
            os.replace(tmp_dest, bindir / name)
    log(f"lm: KenLM tools in {bindir}")


def normalized_lines(texts: Iterable[str]) -> Iterable[str]:
    """Normalize documents line by line, skipping empty lines (a batch of 10,000 documents at a time)."""
    batch: list[str] = []

    def flush() -> Iterable[str]:
        df = pl.DataFrame({"t": batch}).select(pl.col("t").str.split("\n")).explode("t")
        for line in df.select(lm_normalize(pl.col("t"))).to_series():
            if line:
                yield line

    for text in texts:
        batch.append(text)
        if len(batch) >= 10_000:
            yield from flush()
            batch = []
    if batch:
        yield from flush()


def train_lm(texts: Iterable[str], out: str | Path, order: int = 5, memory: str = "20%",
             quiet: bool = False) -> dict[str, int | str]:
    """Train a KenLM model on ``texts`` and write its binary to ``out`` (atomically). Returns a summary."""
    lmplz, build_binary = kenlm_binaries(quiet=quiet)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dataprep-lm-") as tmp:
        corpus = Path(tmp) / "corpus.txt"
        n_lines = n_tokens = 0
        with open(corpus, "w", encoding="utf-8") as fh:
            for line in normalized_lines(texts):
                fh.write(line + "\n")
                n_lines += 1
                n_tokens += line.count(" ") + 1
        if n_lines == 0:
            raise DataprepError("no text to train a language model on")
        arpa = Path(tmp) / "model.arpa"
        # --discount_fallback: on small corpora Kneser-Ney discounts fall out of range and lmplz aborts
        cmd = [lmplz, "-o", str(order), "--discount_fallback", "-S", memory, "-T", tmp, "--text", str(corpus),
               "--arpa", str(arpa)]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise DataprepError(f"lmplz failed: {res.stderr.strip()[-800:]}")
        tmp_out = out.with_name(f".{out.name}.tmp")
        res = subprocess.run([build_binary, "trie", str(arpa), str(tmp_out)], capture_output=True, text=True)
        if res.returncode != 0:
            raise DataprepError(f"build_binary failed: {res.stderr.strip()[-800:]}")
        os.replace(tmp_out, out)
    return {"model": str(out), "order": order, "lines": n_lines, "tokens": n_tokens, "bytes": out.stat().st_size}
