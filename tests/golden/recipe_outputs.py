"""Hash every output file of every shipped recipe run on the bundled sample, to prove that a change of
structure changed no behaviour.

    python tests/golden/recipe_outputs.py hash before.json [--workers 1 2] [--recipes quickstart web_en]
    ... change the code ...
    python tests/golden/recipe_outputs.py hash after.json
    python tests/golden/recipe_outputs.py compare before.json after.json

``hash`` runs each recipe of ``recipes/*.yaml`` through the CLI (``dataprep run``, so the whole pipeline:
cleaning, tokenizer, mixture, pack and train) into a fresh temporary folder, once per worker count, and
records a SHA-256 of every file it wrote: kept/rejected/duplicates/quarantine shards, stats.json,
manifest.json, the tokenizer, packed tokens, training logs and checkpoints. What records wall-clock time is
normalized first, and said so in the JSON: ``runs.jsonl`` (invocation timings) is left out, JSON/JSONL
values under timing keys (seconds, tokens per second, timestamps) are dropped, the output folder's own path
(a temporary folder) reads ``OUT``, and a torch checkpoint is hashed by its tensors and settings.
``compare`` prints every file whose hash differs, or that one side lacks, and exits 1 if any does.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: keys whose values measure time, not data (stats, manifests, training logs)
TIMING_KEYS = {"seconds", "elapsed", "elapsed_s", "time", "time_s", "dt", "dt_ms", "tok_s", "tokens_per_s",
               "tokens_per_second", "mfu", "finished", "started", "timestamp", "docs_per_s", "wall_s",
               "step_time", "ms", "step_s", "data_wait_frac"}
SKIP = {"runs.jsonl"}
#: lines of report.html that show how long the run took
REPORT_TIMING = re.compile(rb"[^\n]*\b(?:seconds|elapsed|s/doc|docs/s)\b[^\n]*")


def _scrub(obj: object, out: str = "") -> object:
    if isinstance(obj, dict):
        return {str(k): _scrub(v, out) for k, v in obj.items() if k not in TIMING_KEYS}
    if isinstance(obj, list | tuple):
        return [_scrub(v, out) for v in obj]
    if isinstance(obj, str) and out:
        return obj.replace(out, "OUT")
    if hasattr(obj, "detach"):  # a torch tensor
        t = obj.detach().cpu().contiguous()
        return f"{t.dtype}{list(t.shape)}:" + hashlib.sha256(t.view(-1).view(__import__("torch").uint8).numpy()
                                                               .tobytes()).hexdigest()
    if isinstance(obj, int | float | bool | None):
        return obj
    return repr(obj)


def _digest(path: Path, out: Path) -> str:
    data = path.read_bytes().replace(str(out).encode(), b"OUT")
    if path.suffix == ".pt":
        import torch

        state = torch.load(path, map_location="cpu", weights_only=False)
        data = json.dumps(_scrub(state, str(out)), sort_keys=True).encode()
    elif path.suffix == ".json":
        try:
            data = json.dumps(_scrub(json.loads(data)), sort_keys=True).encode()
        except ValueError:
            pass
    elif path.suffix == ".jsonl":
        lines = []
        for line in data.splitlines():
            try:
                lines.append(json.dumps(_scrub(json.loads(line)), sort_keys=True))
            except ValueError:
                lines.append(line.decode("utf-8", "replace"))
        data = "\n".join(lines).encode()
    elif path.suffix == ".html":
        data = REPORT_TIMING.sub(b"", data)
    return hashlib.sha256(data).hexdigest()


def hash_tree(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): _digest(p, out) for p in sorted(out.rglob("*"))
            if p.is_file() and p.name not in SKIP}


def run_recipe(recipe: Path, out: Path, workers: int) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "dataprep.cli", "run", str(recipe), "-o", str(out), "-w", str(workers), "-q"]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)


def cmd_hash(dest: Path, workers: list[int], names: list[str] | None) -> int:
    recipes = sorted((ROOT / "recipes").glob("*.yaml"))
    if names:
        recipes = [r for r in recipes if r.stem in names]
    doc: dict[str, object] = {"normalized": {"skipped_files": sorted(SKIP), "timing_keys": sorted(TIMING_KEYS)},
                              "runs": {}}
    failed = 0
    with tempfile.TemporaryDirectory(prefix="dataprep-hash-") as tmp:
        for recipe in recipes:
            for w in workers:
                out = Path(tmp) / f"{recipe.stem}-w{w}"
                proc = run_recipe(recipe, out, w)
                key = f"{recipe.stem} (workers {w})"
                entry: dict[str, object] = {"exit": proc.returncode}
                if proc.returncode != 0:
                    failed += 1
                    entry["error"] = (proc.stderr or proc.stdout)[-2000:]
                # the directory is hashed whatever the exit status: a failing run must fail the same way
                entry["files"] = hash_tree(out) if out.exists() else {}
                doc["runs"][key] = entry
                print(f"{key}: exit {proc.returncode}, {len(entry['files'])} files", flush=True)
                shutil.rmtree(out, ignore_errors=True)
    dest.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    return 1 if failed else 0


def cmd_compare(a: Path, b: Path) -> int:
    left, right = json.loads(a.read_text())["runs"], json.loads(b.read_text())["runs"]
    problems = 0
    for key in sorted(set(left) | set(right)):
        if key not in left or key not in right:
            print(f"{key}: only in {a if key in left else b}")
            problems += 1
            continue
        la, rb = left[key], right[key]
        if la["exit"] != rb["exit"]:
            print(f"{key}: exit {la['exit']} != {rb['exit']}")
            problems += 1
        fa, fb = la["files"], rb["files"]
        for name in sorted(set(fa) | set(fb)):
            if fa.get(name) != fb.get(name):
                what = "missing after" if name not in fb else "new" if name not in fa else "differs"
                print(f"{key}: {name}: {what}")
                problems += 1
        n = len(fa)
        print(f"{key}: {n} files compared" + ("" if problems else ", identical"))
    print(f"{problems} difference(s)")
    return 1 if problems else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    h = sub.add_parser("hash", help="run every recipe and hash its output files")
    h.add_argument("dest", type=Path)
    h.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    h.add_argument("--recipes", nargs="+", default=None, help="recipe names (file stems); default: all")
    c = sub.add_parser("compare", help="print the files whose hashes differ")
    c.add_argument("a", type=Path)
    c.add_argument("b", type=Path)
    args = ap.parse_args()
    if args.cmd == "hash":
        return cmd_hash(args.dest, args.workers, args.recipes)
    return cmd_compare(args.a, args.b)


if __name__ == "__main__":
    raise SystemExit(main())
