"""Looking into a run's output without writing code: sample rejected, duplicate and quarantined records."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import polars as pl

from dataprep.errors import DataprepError


def scan_folder(folder: Path) -> pl.LazyFrame | None:
    """Lazily scan every shard (Arrow IPC or Parquet) of an output folder; None when it has none. Shards may
    differ in columns (a step restricted to some sources adds its scores to theirs only): missing columns
    read as null."""
    arrow = sorted(folder.glob("*.arrow"))
    parquet = sorted(folder.glob("*.parquet"))
    if arrow:
        scans = [pl.scan_ipc(str(p)) for p in arrow]
    elif parquet:
        scans = [pl.scan_parquet(str(p)) for p in parquet]
    else:
        return None
    return pl.concat(scans, how="diagonal_relaxed") if len(scans) > 1 else scans[0]


def load_stats(out: Path) -> dict:
    path = out / "stats.json"
    if not path.exists():
        raise DataprepError(f"{out} has no stats.json: is it the output folder of a finished 'dataprep run'?")
    return json.loads(path.read_text())


def _snippet(text: str, width: int) -> str:
    text = text if len(text) <= width else text[:width] + f" … [{len(text):,} chars]"
    return textwrap.indent(text, "    ")


def sample_rejected(out: Path, step: str | None, reason: str | None, n: int) -> pl.DataFrame:
    lf = scan_folder(out / "rejected")
    if lf is None:
        return pl.DataFrame()
    if step:
        lf = lf.filter(pl.col("step") == step)
    if reason:
        lf = lf.filter(pl.col("reason") == reason)
    return lf.head(n).collect()


def format_inspect(out: Path, step: str | None = None, reason: str | None = None, n: int = 5,
                   duplicates: bool = False, quarantine: bool = False, width: int = 600) -> str:
    """The text ``dataprep inspect`` prints."""
    out = Path(out)
    stats = load_stats(out)
    lines: list[str] = []
    if quarantine:
        lf = scan_folder(out / "quarantine")
        df = lf.head(n).collect() if lf is not None else pl.DataFrame()
        lines.append(f"{stats['counts']['quarantined']:,} quarantined records; showing {df.height}")
        for r in df.iter_rows(named=True):
            where = f"line {r['line']}" if r["line"] is not None else f"row {r['row']}"
            raw = (r["raw"] or b"").decode("utf-8", "replace")
            lines.append(f"- [{r['source']}] {r['file']} {where}: {r['kind']}: {r['error']}")
            if raw:
                lines.append(_snippet(raw, width))
        return "\n".join(lines)
    if duplicates:
        lf = scan_folder(out / "duplicates")
        if lf is None:
            return "no duplicates were removed"
        if step:
            lf = lf.filter(pl.col("step") == step)
        clusters = (lf.group_by("duplicate_of")
                    .agg(pl.len().alias("n"), pl.col("id"), pl.col("source"), pl.col("text"), pl.col("step").first())
                    .sort(["n", "duplicate_of"], descending=[True, False]).head(n).collect())
        reps: dict[str, tuple[str, str, str]] = {}
        wanted = clusters.get_column("duplicate_of").to_list()
        for folder in ("kept", "rejected", "duplicates"):  # a kept copy may be rejected or deduplicated later
            scan = scan_folder(out / folder)
            if scan is None or not wanted:
                continue
            found = scan.filter(pl.col("id").is_in(wanted)).select("id", "source", "text").collect()
            for rid, src, text in found.iter_rows():
                reps.setdefault(rid, (src, text, folder))
        lines.append(f"{stats['counts']['duplicates']:,} duplicates removed; the {clusters.height} largest "
                     f"clusters{f' of step {step}' if step else ''}, each kept copy first:")
        for c in clusters.iter_rows(named=True):
            src, text, folder = reps.get(c["duplicate_of"], ("?", "", "not found"))
            lines.append(f"cluster of {c['n'] + 1} ({c['step']}): kept {c['duplicate_of']} [{src}] (in {folder}/)")
            if text:
                lines.append(_snippet(text, width))
            for rid, rsrc, rtext in zip(c["id"], c["source"], c["text"], strict=True):
                lines.append(f"  removed {rid} [{rsrc}]")
                lines.append(_snippet(rtext, width))
        return "\n".join(lines)
    if step is None and reason is None:
        lines.append("rejected documents per step and reason (pick one with --step and --reason):")
        for key, count in stats["by_reason"].items():
            s, r = key.split("/", 1)
            lines.append(f"  --step {s} --reason {r}: {count:,}")
        if not stats["by_reason"]:
            lines.append("  none")
        return "\n".join(lines)
    df = sample_rejected(out, step, reason, n)
    known = sorted(stats["by_reason"])
    if df.height == 0:
        hint = ", ".join(known) or "none"
        raise DataprepError(f"no rejected documents for step={step!r} reason={reason!r}; step/reason pairs "
                            f"in this run: {hint}")
    lines.append(f"{df.height} rejected documents (step={step or '*'}, reason={reason or '*'}):")
    for r in df.iter_rows(named=True):
        lines.append(f"- {r['id']} [{r['source']}] {r['step']}: {r['reason']}")
        lines.append(_snippet(r["text"], width))
    return "\n".join(lines)
