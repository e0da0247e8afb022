"""``OUT/report.html``: a self-contained page (inline CSS and SVG, no script, no network) that shows a run to a
person: the funnel of documents and bytes per step, rejections per reason with sample documents, the language
mix, perplexity per language with the bucket cutoffs, score histograms with their thresholds, and duplicate
cluster sizes. Every number comes from ``stats.json`` or the output shards.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from dataprep.inspect import scan_folder

#: Score columns drawn as histograms, with the step parameter that holds their threshold.
SCORES: dict[str, tuple[str, str, str]] = {
    "lang_score": ("language", "min_score", "language ID score (FineWeb keeps >= 0.65)"),
    "gopher_words": ("gopher_quality", "min_doc_words", "Gopher: words"),
    "gopher_alpha_words": ("gopher_quality", "min_alpha_words_ratio", "Gopher: words with a letter"),
    "gopher_dup_line_frac": ("gopher_repetition", "dup_line_frac", "Gopher: duplicate line fraction"),
    "gopher_top_2_gram": ("gopher_repetition", "top_n_grams", "Gopher: top 2-gram character fraction"),
    "gopher_dup_5_gram": ("gopher_repetition", "dup_n_grams", "Gopher: duplicated 5-gram characters"),
    "fineweb_line_punct": ("fineweb_quality", "line_punct_thr", "FineWeb: lines ending in punctuation"),
    "fineweb_short_lines": ("fineweb_quality", "short_line_thr", "FineWeb: short lines"),
    "fineweb_dup_line_chars": ("fineweb_quality", "char_duplicates_ratio", "FineWeb: duplicated-line characters"),
    "quality_score": ("quality_classifier", "min_score", "quality classifier score"),
    "c4_sentences": ("c4", "min_sentences", "C4: sentences kept"),
}

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1100px;color:#222}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:6px 0}td,th{padding:3px 10px;text-align:right;border-bottom:1px solid #eee}
td:first-child,th:first-child{text-align:left}.muted{color:#777}.grid{display:flex;flex-wrap:wrap;gap:18px}
.card{border:1px solid #e4e4e4;border-radius:6px;padding:8px 10px}pre{white-space:pre-wrap;background:#f7f7f7;
padding:6px;border-radius:4px;font-size:12px;max-height:160px;overflow:auto}svg text{font-size:11px}
"""


def _e(x: Any) -> str:
    return html.escape(str(x))


def _bars(items: list[tuple[str, float]], width: int = 620, unit: str = "", color: str = "#4a7bd0") -> str:
    """A horizontal bar chart as inline SVG."""
    if not items:
        return "<p class=muted>nothing to show</p>"
    top = max(v for _, v in items) or 1
    row, label_w = 20, 300
    h = row * len(items) + 4
    parts = [f'<svg width="{width}" height="{h}" role="img">']
    for i, (label, v) in enumerate(items):
        w = max(1.0, (width - label_w - 80) * v / top)
        y = i * row + 2
        parts.append(f'<text x="0" y="{y + 14}">{_e(label[:48])}</text>'
                     f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row - 6}" fill="{color}"/>'
                     f'<text x="{label_w + w + 4:.1f}" y="{y + 14}">{v:,.0f}{unit}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _histogram(values: np.ndarray, title: str, threshold: float | list[float] | None = None, log10: bool = False,
               width: int = 330, height: int = 150, bins: int = 30) -> str:
    """A histogram as inline SVG, with vertical lines at the threshold(s)."""
    values = values[np.isfinite(values)]
    if log10:
        values = np.log10(np.maximum(values, 1e-9))
    if len(values) == 0:
        return ""
    lo, hi = float(values.min()), float(values.max())
    marks = [] if threshold is None else ([threshold] if not isinstance(threshold, list) else threshold)
    marks = [float(np.log10(m)) if log10 and m > 0 else float(m) for m in marks if m is not None]
    lo, hi = min([lo, *marks]), max([hi, *marks])
    if hi <= lo:
        hi = lo + 1
    counts, edges = np.histogram(values, bins=bins, range=(lo, hi))
    top = counts.max() or 1
    pad_b, pad_t = 18, 6
    plot_h = height - pad_b - pad_t
    bw = width / bins
    parts = [f'<div class=card><div>{_e(title)} <span class=muted>(n={len(values):,})</span></div>'
             f'<svg width="{width}" height="{height}" role="img">']
    for i, c in enumerate(counts):
        bh = plot_h * c / top
        parts.append(f'<rect x="{i * bw:.1f}" y="{pad_t + plot_h - bh:.1f}" width="{bw - 1:.1f}" height="{bh:.1f}" '
                     f'fill="#6b9be0"/>')
    for m in marks:
        x = (m - lo) / (hi - lo) * width
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{pad_t}" y2="{pad_t + plot_h}" stroke="#d33" '
                     f'stroke-width="2"/>')
    fmt = (lambda v: f"1e{v:.1f}") if log10 else (lambda v: f"{v:.3g}")
    parts.append(f'<text x="0" y="{height - 4}">{fmt(lo)}</text>'
                 f'<text x="{width - 4}" y="{height - 4}" text-anchor="end">{fmt(hi)}</text></svg></div>')
    return "".join(parts)


def _threshold(steps: list[dict[str, Any]], column: str) -> float | list[float] | None:
    step_type, param, _ = SCORES[column]
    for s in steps:
        if s["type"] != step_type:
            continue
        value = s["params"].get(param, s.get("defaults", {}).get(param))
        if isinstance(value, dict):  # n-gram thresholds: {2: 0.2, ...} or {5: 0.15, ...}
            n = int(column.rsplit("_", 2)[-2])
            value = value.get(n, value.get(str(n)))
        return value
    return None


def funnel(stats: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(stage, documents, bytes) remaining: input, after quarantine, then after each step in order."""
    c, b = stats["counts"], stats["bytes"]
    docs, nbytes = c["input"] - c["quarantined"], b["input"] - b["quarantined"]
    rows = [("input", c["input"], b["input"]), ("parsed (after quarantine)", docs, nbytes)]
    for step, entry in stats["by_step"].items():
        docs -= entry.get("rejected", 0) + entry.get("duplicates", 0)
        nbytes -= entry.get("rejected_bytes", 0) + entry.get("duplicates_bytes", 0)
        rows.append((f"after {step}", docs, nbytes))
    return rows


def write_report(out: Path, stats: dict[str, Any], recipe_name: str, steps: list[dict[str, Any]]) -> Path:
    """Write ``out/report.html`` and return its path. ``steps``: the recipe's steps as
    ``{"type", "label", "params", "defaults"}``."""
    out = Path(out)
    c, b = stats["counts"], stats["bytes"]
    parts = [f"<!doctype html><html lang=en><head><meta charset=utf-8><title>dataprep report: {_e(recipe_name)}"
             f"</title><style>{CSS}</style></head><body>",
             f"<h1>dataprep run: {_e(recipe_name)}</h1>",
             "<h2>Documents</h2><table id=counts><tr><th></th><th>documents</th><th>bytes</th></tr>"]
    for key in ("input", "kept", "rejected", "duplicates", "quarantined"):
        parts.append(f"<tr><td>{key}</td><td data-key={key}>{c[key]:,}</td><td>{b[key]:,}</td></tr>")
    parts.append("</table>")
    rows = funnel(stats)
    # bytes only at both ends: mappers (boilerplate lines, PII, C4) shrink texts between steps
    labels = [(f"{name} ({b['input'] / 1e6:,.1f} MB)" if i == 0 else name, docs)
              for i, (name, docs, _) in enumerate(rows)]
    labels.append((f"kept ({b['kept'] / 1e6:,.1f} MB)", c["kept"]))
    parts.append("<h2>Funnel: documents remaining after each step</h2>" + _bars(labels, unit=" docs"))
    parts.append("<h2>Rejected per step and reason</h2>")
    reasons = [(k, v) for k, v in stats["by_reason"].items()]
    parts.append(_bars(sorted(reasons, key=lambda kv: -kv[1]), color="#d08a4a"))
    if stats.get("quarantine_errors"):
        parts.append("<h2>Quarantined records per kind</h2>" + _bars(list(stats["quarantine_errors"].items()),
                                                                     color="#b55"))
    kept = scan_folder(out / "kept")
    columns = kept.collect_schema().names() if kept is not None else []
    if "lang" in columns:
        # rows of sources a language step did not run on have no language
        langs = (kept.with_columns(pl.col("lang").fill_null("(not identified)")).group_by("lang").len()
                 .sort("len", "lang", descending=[True, False]).head(20).collect())
        parts.append("<h2>Languages of kept documents</h2>" + _bars(list(langs.iter_rows())))
    if "perplexity" in columns and "lang" in columns:
        from filters.perplexity import builtin_cutoffs

        cutoffs = builtin_cutoffs()
        for s in steps:
            if s["type"] == "perplexity":
                cutoffs.update(s["params"].get("cutoffs", {}))
        top = (kept.filter(pl.col("perplexity").is_not_null()).group_by("lang").len()
               .sort("len", "lang", descending=[True, False]).head(6).collect().get_column("lang"))
        charts = []
        for lang in top.to_list():
            ppl = kept.filter(pl.col("lang") == lang).select("perplexity").collect().to_series().to_numpy()
            charts.append(_histogram(ppl.astype(float), f"{lang}: log10 perplexity (cutoffs p30, p60)",
                                     cutoffs.get(lang), log10=True))
        parts.append("<h2>Perplexity per language</h2><div class=grid>" + "".join(charts) + "</div>")
    score_cols = [col for col in SCORES if col in columns]
    if score_cols:
        values = kept.select(score_cols).collect()
        charts = [_histogram(values.get_column(col).cast(pl.Float64).to_numpy(), SCORES[col][2],
                             _threshold(steps, col)) for col in score_cols]
        parts.append("<h2>Scores of kept documents, with thresholds</h2><div class=grid>" + "".join(charts)
                     + "</div>")
    clusters = [(step, e["cluster_sizes"]) for step, e in stats["by_step"].items() if e.get("cluster_sizes")]
    if clusters:
        parts.append("<h2>Duplicate cluster sizes</h2><div class=grid>")
        for step, sizes in clusters:
            parts.append(f"<div class=card><div>{_e(step)}: {stats['by_step'][step].get('clusters', 0):,} "
                         f"clusters</div>" + _bars([(f"size {k}", v) for k, v in sorted(
                             sizes.items(), key=lambda kv: int(kv[0]))][:15], width=420) + "</div>")
        parts.append("</div>")
    mix = next((p for p in (out / "mix.json", out / "mixed" / "mix.json") if p.exists()), None)
    if mix is not None:
        m = json.loads(mix.read_text())
        parts.append("<h2>Mixture</h2><table><tr><th>source</th><th>weight</th><th>tokens</th><th>epochs</th>"
                     "<th>realized share</th></tr>")
        for name, e in m["sources"].items():
            parts.append(f"<tr data-source=\"{_e(name)}\"><td>{_e(name)}</td><td>{e['weight']:.3f}</td>"
                         f"<td>{e['realized_tokens']:,}</td><td>{e['epochs']:.2f}</td>"
                         f"<td>{e['realized_share']:.3f}</td></tr>")
        parts.append("</table>")
    rejected = scan_folder(out / "rejected")
    if rejected is not None and stats["by_reason"]:
        parts.append("<h2>Sample rejected documents</h2>")
        samples = (rejected.group_by("step", "reason", maintain_order=True).agg(pl.col("id").head(2),
                                                                               pl.col("text").head(2))
                   .sort("step", "reason").collect())
        for step, reason, ids, texts in samples.iter_rows():
            parts.append(f"<h3>{_e(step)} / {_e(reason)}</h3>")
            for i, t in zip(ids, texts, strict=True):
                parts.append(f"<div class=muted>{_e(i)}</div><pre>{_e(t[:600])}</pre>")
    parts.append("</body></html>")
    path = out / "report.html"
    from dataprep.io.writers import atomic_write_bytes

    atomic_write_bytes(path, "\n".join(parts).encode("utf-8"))
    return path
