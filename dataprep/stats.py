"""Accounting: per-task counters, their sum into ``stats.json``, and the summary table printed after a run.

Every input document is counted in exactly one of kept, rejected, duplicates or quarantined, in documents
and bytes, overall and per source, step and reason; :func:`check_balance` asserts the identity
``input = kept + rejected + duplicates + quarantined`` and the run refuses to finish without it.
"""

from __future__ import annotations

from typing import Any

CATEGORIES = ("kept", "rejected", "duplicates", "quarantined")


def new_task_stats(source: str) -> dict[str, Any]:
    """Counters one task fills in: documents and bytes per category, step and reason."""
    return {
        "source": source,
        "input": {"docs": 0, "bytes": 0},
        "kept": {"docs": 0, "bytes": 0},
        "quarantined": {"docs": 0, "bytes": 0},
        "rejected": {},  # step -> reason -> {"docs", "bytes"}
        "duplicates": {},  # step -> {"docs", "bytes"}
        "quarantine_errors": {},  # error kind -> docs
        "counters": {},  # step -> name -> total (what a step reports besides rows: lines removed, redactions)
    }


def add(counter: dict[str, int], docs: int, nbytes: int) -> None:
    counter["docs"] = counter.get("docs", 0) + int(docs)
    counter["bytes"] = counter.get("bytes", 0) + int(nbytes)


def merge_stage(into: dict[str, Any], stage: dict[str, Any]) -> None:
    """Merge one stage's counters of a task into the task's running counters."""
    for key in ("input", "kept", "quarantined"):
        add(into[key], stage[key]["docs"], stage[key]["bytes"])
    for step, reasons in stage["rejected"].items():
        for reason, c in reasons.items():
            add(into["rejected"].setdefault(step, {}).setdefault(reason, {}), c["docs"], c["bytes"])
    for step, c in stage["duplicates"].items():
        add(into["duplicates"].setdefault(step, {}), c["docs"], c["bytes"])
    for kind, n in stage["quarantine_errors"].items():
        into["quarantine_errors"][kind] = into["quarantine_errors"].get(kind, 0) + n
    for step, counts in stage.get("counters", {}).items():
        target = into["counters"].setdefault(step, {})
        for key, n in counts.items():
            target[key] = target.get(key, 0) + n


def _totals(t: dict[str, Any]) -> dict[str, dict[str, int]]:
    rej = {"docs": 0, "bytes": 0}
    for reasons in t["rejected"].values():
        for c in reasons.values():
            add(rej, c["docs"], c["bytes"])
    dup = {"docs": 0, "bytes": 0}
    for c in t["duplicates"].values():
        add(dup, c["docs"], c["bytes"])
    return {"input": dict(t["input"]), "kept": dict(t["kept"]), "rejected": rej, "duplicates": dup,
            "quarantined": dict(t["quarantined"])}


def build_stats(tasks: list[dict[str, Any]], step_order: list[str],
                global_stats: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Sum per-task counters into the ``stats.json`` document (deterministic: no timings)."""
    per_source: dict[str, dict[str, Any]] = {}
    for t in tasks:
        src = per_source.setdefault(t["source"], new_task_stats(t["source"]))
        merge_stage(src, t)
    overall = new_task_stats("*")
    for s in per_source.values():
        merge_stage(overall, s)
    totals = _totals(overall)
    by_step: dict[str, Any] = {}
    for step in ["read", *step_order]:
        reasons = overall["rejected"].get(step, {})
        dup = overall["duplicates"].get(step)
        if not reasons and dup is None and step == "read":
            continue
        entry: dict[str, Any] = {
            "rejected": sum(c["docs"] for c in reasons.values()),
            "rejected_bytes": sum(c["bytes"] for c in reasons.values()),
            "reasons": {r: c["docs"] for r, c in sorted(reasons.items())},
        }
        if dup is not None or "clusters" in global_stats.get(step, {}):
            entry["duplicates"] = (dup or {}).get("docs", 0)
            entry["duplicates_bytes"] = (dup or {}).get("bytes", 0)
        if step in global_stats:
            entry.update(global_stats[step])
        if overall["counters"].get(step):
            entry["counters"] = dict(sorted(overall["counters"][step].items()))
        by_step[step] = entry
    by_source = {}
    for name, s in sorted(per_source.items()):
        tot = _totals(s)
        by_source[name] = {
            "counts": {k: v["docs"] for k, v in tot.items()},
            "bytes": {k: v["bytes"] for k, v in tot.items()},
            "duplicates_by_step": {st: c["docs"] for st, c in sorted(s["duplicates"].items())},
            "duplicate_bytes_by_step": {st: c["bytes"] for st, c in sorted(s["duplicates"].items())},
        }
    by_reason = {}
    for step, reasons in sorted(overall["rejected"].items()):
        for reason, c in sorted(reasons.items()):
            by_reason[f"{step}/{reason}"] = c["docs"]
    return {
        "counts": {k: v["docs"] for k, v in totals.items()},
        "bytes": {k: v["bytes"] for k, v in totals.items()},
        "by_step": by_step,
        "by_reason": by_reason,
        "by_source": by_source,
        "quarantine_errors": dict(sorted(overall["quarantine_errors"].items())),
    }


def check_balance(stats: dict[str, Any]) -> None:
    """Raise if any document is unaccounted for, overall or in any source."""
    scopes = [("overall", stats["counts"])] + [(n, s["counts"]) for n, s in stats["by_source"].items()]
    for name, c in scopes:
        out = sum(c[k] for k in CATEGORIES)
        if c["input"] != out:
            raise AssertionError(f"counts do not balance for {name}: input {c['input']} != "
                                 f"kept+rejected+duplicates+quarantined {out}")


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover


def summary_table(stats: dict[str, Any], seconds: float | None = None) -> str:
    """A plain-text table: documents and bytes per category, per step and reason, and throughput."""
    c, b = stats["counts"], stats["bytes"]
    n_in = max(c["input"], 1)
    rows: list[tuple[str, str, str, str]] = [("", "documents", "bytes", "% docs")]
    rows.append(("input", f"{c['input']:,}", _fmt_bytes(b["input"]), "100.0"))
    rows.append(("kept", f"{c['kept']:,}", _fmt_bytes(b["kept"]), f"{100 * c['kept'] / n_in:.1f}"))
    rows.append(("rejected", f"{c['rejected']:,}", _fmt_bytes(b["rejected"]),
                 f"{100 * c['rejected'] / n_in:.1f}"))
    for step, entry in stats["by_step"].items():
        for reason, n in entry.get("reasons", {}).items():
            rows.append((f"  {step}: {reason}", f"{n:,}", "", f"{100 * n / n_in:.1f}"))
    rows.append(("duplicates", f"{c['duplicates']:,}", _fmt_bytes(b["duplicates"]),
                 f"{100 * c['duplicates'] / n_in:.1f}"))
    for step, entry in stats["by_step"].items():
        if "duplicates" in entry:
            extra = f" ({entry['clusters']:,} clusters)" if "clusters" in entry else ""
            rows.append((f"  {step}{extra}", f"{entry['duplicates']:,}", _fmt_bytes(entry["duplicates_bytes"]),
                         f"{100 * entry['duplicates'] / n_in:.1f}"))
    rows.append(("quarantined", f"{c['quarantined']:,}", _fmt_bytes(b["quarantined"]),
                 f"{100 * c['quarantined'] / n_in:.1f}"))
    for kind, n in stats.get("quarantine_errors", {}).items():
        rows.append((f"  {kind}", f"{n:,}", "", f"{100 * n / n_in:.1f}"))
    counted = [(step, entry["counters"]) for step, entry in stats["by_step"].items() if entry.get("counters")]
    if counted:
        rows.append(("step counters", "", "", ""))
        for step, counters in counted:
            for key, n in counters.items():
                rows.append((f"  {step}: {key}", f"{n:,}", "", ""))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = []
    for i, r in enumerate(rows):
        lines.append(f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]:>{widths[3]}}")
        if i == 0:
            lines.append("-" * len(lines[0]))
    if seconds is not None and seconds > 0:
        lines.append("")
        lines.append(f"{c['input'] / seconds:,.0f} docs/s, {b['input'] / seconds / 1e6:,.2f} MB/s "
                     f"over {seconds:.2f} s")
    return "\n".join(lines)
