"""OUT/report.html: self-contained, its numbers equal stats.json, and it renders in headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
from conftest import run_cli


@pytest.fixture(scope="module")
def run_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "qs"
    run_cli("run", "recipes/web_en.yaml", "-o", str(out), "-q")
    return out


def test_report_numbers_match_stats(run_out):
    page = (run_out / "report.html").read_text(encoding="utf-8")
    stats = json.loads((run_out / "stats.json").read_text())
    for key in ("input", "kept", "rejected", "duplicates", "quarantined"):
        cell = re.search(rf"<td data-key={key}>([\d,]+)</td>", page)
        assert cell and int(cell.group(1).replace(",", "")) == stats["counts"][key], key
    for reason, n in stats["by_reason"].items():
        assert f">{reason[:48]}</text>" in page and f">{n:,}</text>" in page
    assert "Languages of kept documents" in page and "Perplexity per language" in page
    assert "Duplicate cluster sizes" in page and "Sample rejected documents" in page
    assert "<script" not in page and "http://" not in page.split("</style>")[0]  # offline, no script


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_report_renders_in_headless_chromium(run_out, tmp_path):
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0"]
    proc = subprocess.run([CHROMIUM, *flags, "--dump-dom", (run_out / "report.html").as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    stats = json.loads((run_out / "stats.json").read_text())
    assert f"<td data-key=\"kept\">{stats['counts']['kept']:,}</td>" in dom
    assert dom.count("<svg") >= 5
    console_errors = [line for line in proc.stderr.splitlines() if "CONSOLE" in line and "ERROR" in line.upper()]
    assert not console_errors, console_errors
