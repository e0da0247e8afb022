"""Recipe validation: every mistake is caught before work starts, with the file, line and a fix."""

from __future__ import annotations

import pytest
from conftest import run_cli, write_jsonl

from dataprep.errors import RecipeError
from dataprep.recipe import load_recipe, parse_size


@pytest.fixture
def data(tmp_path):
    write_jsonl(tmp_path / "d/x.jsonl", [{"text": "hello"}])
    return tmp_path


def _write(tmp_path, body: str):
    p = tmp_path / "r.yaml"
    p.write_text(body)
    return p


GOOD = """name: t
sources:
  - name: x
    paths: [d/x.jsonl]
steps:
  - exact_dedup:
      normalize: false
output:
  path: out
"""


def test_valid_recipe_and_relative_paths(data):
    r = load_recipe(_write(data, GOOD))
    assert r.sources[0].files[0][0] == data / "d/x.jsonl"
    assert r.output.path == data / "out" and r.steps[0].step.normalize is False
    assert len(r.fingerprint()) == 16


@pytest.mark.parametrize("body,line,words", [
    (GOOD.replace("exact_dedup:", "exact_dedupe:"), 6, ["unknown step 'exact_dedupe'", "did you mean 'exact_dedup'"]),
    (GOOD.replace("normalize: false", "normalize: 3"), 7, ["parameter 'normalize' must be bool", "got 3"]),
    (GOOD.replace("normalize: false", "normalise: false"), 7, ["has no parameter 'normalise'", "normalize"]),
    (GOOD.replace("d/x.jsonl", "d/missing.jsonl"), 4, ["source 'x'", "does not exist"]),
    (GOOD.replace("name: x", "name: x y"), 3, ["source name"]),
    (GOOD.replace("output:", "outptu:"), 8, ["unknown key 'outptu'", "did you mean 'output'"]),
    (GOOD + "seed: abc\n", 10, ["'seed' must be an integer"]),
    (GOOD.replace("  path: out", "  path: out\n  format: csv"), 10, ["output format must be arrow or parquet"]),
    (GOOD.replace("steps:", "steps: [\n"), 0, ["invalid YAML"]),
])
def test_errors_name_line_and_problem(data, body, line, words):
    with pytest.raises(RecipeError) as exc:
        load_recipe(_write(data, body))
    msg = str(exc.value)
    if line:
        assert f"r.yaml:{line}:" in msg, msg
    for w in words:
        assert w in msg, msg


def test_parse_size():
    assert parse_size("256MB", "x") == 256 << 20 and parse_size("1.5GiB", "x") == int(1.5 * (1 << 30))
    assert parse_size(4096, "x") == 4096
    with pytest.raises(RecipeError):
        parse_size("lots", "x")


def test_cli_validate_and_steps(data):
    ok = run_cli("recipe", "validate", str(_write(data, GOOD)))
    assert "ok" in ok.stdout and "exact_dedup" in ok.stdout
    bad = run_cli("recipe", "validate", str(_write(data, GOOD.replace("exact_dedup:", "dedup_exact:"))),
                  check=False)
    assert bad.returncode == 2 and "unknown step" in bad.stderr
    steps = run_cli("steps").stdout
    assert "exact_dedup" in steps and "normalize: bool (default True)" in steps


def test_shipped_recipes_validate():
    from conftest import ROOT

    for path in sorted((ROOT / "recipes").glob("*.yaml")):
        load_recipe(path)
