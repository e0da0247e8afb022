"""Recipe validation: every mistake is caught before work starts, with the file, line and a fix."""

from __future__ import annotations

import dataclasses

import pytest
from conftest import run_cli, write_jsonl

from dataprep.config import Context, Scope, Size, line_of, load_yaml, parse_size, setting, validate
from dataprep.errors import RecipeError
from dataprep.recipe import load_recipe


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


# Every section, each key on its own line (the line numbers below count on it).
FULL = GOOD + """limits:
  max_doc_bytes: 1MB
executor:
  workers: 1
  split_bytes: 64MB
tokenizer:
  vocab_size: 300
pack:
  seq_len: 16
mixture:
  weights: {x: 1}
  total_tokens: 100
train:
  preset: tiny
  max_steps: 2
"""


def test_every_section_loads_into_its_dataclass(data):
    r = load_recipe(_write(data, FULL))
    assert r.limits.max_doc_bytes == 1 << 20
    assert (r.executor.workers, r.executor.split_bytes) == (1, 64 << 20)
    assert r.tokenizer.vocab_size == 300 and r.tokenizer.path is None and r.pack.seq_len == 16
    assert r.mixture.weights == {"x": 1.0} and isinstance(r.mixture.weights["x"], float)
    assert r.mixture.total_tokens == 100 and r.train == {"preset": "tiny", "max_steps": 2} and r.plugins == []
    for gone in ("max_doc_bytes", "workers", "split_bytes"):  # now under limits / executor
        assert not hasattr(r, gone)
    defaults = load_recipe(_write(data, GOOD))
    assert defaults.limits.max_doc_bytes == 16 << 20 and defaults.executor.split_bytes == 64 << 20
    assert defaults.executor.workers == 0 and defaults.train is None


@pytest.mark.parametrize("old,new,line,words", [
    ("paths:", "pathz:", 4, ["unknown key 'pathz' in source 'x'", "did you mean 'paths'", "allowed: name, paths"]),
    ("  path: out", "  pth: out", 9, ["unknown key 'pth' in output", "did you mean 'path'"]),
    ("max_doc_bytes", "max_doc_byte", 11, ["unknown key 'max_doc_byte' in limits", "did you mean 'max_doc_bytes'"]),
    ("workers", "worker", 13, ["unknown key 'worker' in executor", "did you mean 'workers'"]),
    ("vocab_size", "vocab", 16, ["unknown key 'vocab' in tokenizer", "did you mean 'vocab_size'"]),
    ("seq_len", "seqlen", 18, ["unknown key 'seqlen' in pack", "did you mean 'seq_len'"]),
    ("total_tokens", "total_token", 21, ["unknown key 'total_token' in mixture", "did you mean 'total_tokens'"]),
    ("max_steps", "max_step", 24, ["unknown key 'max_step' in train", "did you mean 'max_steps'", "batch_size"]),
])
def test_unknown_key_in_every_section(data, old, new, line, words):
    assert FULL.count(old) == 1
    with pytest.raises(RecipeError) as exc:
        load_recipe(_write(data, FULL.replace(old, new)))
    msg = str(exc.value)
    assert f"r.yaml:{line}: " in msg, msg
    for w in words:
        assert w in msg, msg


@pytest.mark.parametrize("old,new,line,words", [
    ("max_doc_bytes: 1MB", "max_doc_bytes: lots", 11, ["cannot read size 'lots'"]),
    ("split_bytes: 64MB", "split_bytes: [1]", 14, ["cannot read size"]),
    ("workers: 1", "workers: -1", 13, ["'executor.workers' must be an integer >= 0", "got -1"]),
    ("vocab_size: 300", "vocab_size: 12", 16, ["'tokenizer.vocab_size' must be an integer >= 300"]),
    ("seq_len: 16", "seq_len: 0", 18, ["'pack.seq_len' must be a positive integer"]),
    ("weights: {x: 1}", "weights: {x: -1}", 20, ["weight of 'x' must be a number >= 0"]),
    ("weights: {x: 1}", "weights: {y: 1}", 20, ["mixture: unknown source 'y'"]),
    ("total_tokens: 100", "total_tokens: 0", 21, ["'mixture.total_tokens' must be a positive number"]),
    ("total_tokens: 100", "total_tokens: 1e3", 0, []),  # 1e3 is a string in YAML, read as a number
    ("max_steps: 2", "max_steps: lots", 24, ["'train.max_steps' must be int, got 'lots'"]),
    ("max_steps: 2", "max_steps: 2.5", 24, ["'train.max_steps' must be int"]),
    ("preset: tiny", "preset: tinny", 23, ["unknown train preset 'tinny'", "did you mean 'tiny'", "124M"]),
    ("preset: tiny", "data: packed", 23, ["'train.data' is set by the run"]),
    ("preset: tiny", "compile: maybe", 22, ["train: compile must be auto, true or false"]),
    ("pack:\n  seq_len: 16\n", "", 20, ["'train' needs a 'pack' section"]),
    ("tokenizer:\n  vocab_size: 300\n", "", 15, ["'pack' needs a 'tokenizer' section"]),
    ("vocab_size: 300", "special_tokens: [a]", 15, ["'tokenizer' needs 'path'", "or 'vocab_size'"]),
    ("  path: out", "  path: 3", 9, ["'output.path' must be a path, got 3"]),
    ("  path: out", "  path: out\n  shard_size: big", 10, ["cannot read size 'big'"]),
    ("workers: 1", "workers: true", 13, ["'executor.workers' must be"]),
    ("limits:\n  max_doc_bytes: 1MB\n", "limits: 5\n", 10, ["'limits' must be a mapping (max_doc_bytes)"]),
    ("name: x\n", "name: x\n    text_unit: page\n", 4, ["source 'x': 'text_unit' must be file, paragraph or line"]),
    ("name: x\n", "name: x\n    id_field: 3\n", 4, ["source 'x': 'id_field' must be a string or null"]),
    ("name: x\n", "name: x\n    format: jsn\n", 4, ["source 'x': unknown format 'jsn'", "did you mean 'jsonl'"]),
    ("  - name: x\n    paths: [d/x.jsonl]\n", "  - name: x\n    paths: [d/x.jsonl]\n" * 2, 5,
     ["source name 'x' is used twice"]),
    ("name: x\n", "nmae: x\n", 3, ["unknown key 'nmae' in a source", "did you mean 'name'"]),
    ("exact_dedup:", "exact_dedup:\n      sources: [y]", 7, ["step 'exact_dedup': unknown source 'y'"]),
])
def test_wrong_values_in_sections(data, old, new, line, words):
    assert FULL.count(old) == 1, old
    path = _write(data, FULL.replace(old, new))
    if not line:
        assert load_recipe(path).mixture.total_tokens == 1000
        return
    with pytest.raises(RecipeError) as exc:
        load_recipe(path)
    msg = str(exc.value)
    assert f"r.yaml:{line}: " in msg, msg
    for w in words:
        assert w in msg, msg


def test_cli_validate_refuses_train_typo_and_wrong_type(data):
    ok = run_cli("recipe", "validate", str(_write(data, FULL)))
    assert ok.returncode == 0 and "ok" in ok.stdout
    typo = run_cli("recipe", "validate", str(_write(data, FULL.replace("max_steps", "max_stpes"))), check=False)
    assert typo.returncode == 2 and "r.yaml:24: unknown key 'max_stpes' in train" in typo.stderr, typo.stderr
    assert "did you mean 'max_steps'" in typo.stderr
    wrong = run_cli("recipe", "validate", str(_write(data, FULL.replace("max_steps: 2", "max_steps: many"))),
                    check=False)
    assert wrong.returncode == 2 and "r.yaml:24: 'train.max_steps' must be int, got 'many'" in wrong.stderr


def test_output_overrides_and_path_forms(data):
    r = load_recipe(_write(data, GOOD.replace("output:\n  path: out\n", "output: sub/../out2\n")))
    assert r.output.path == data / "out2" and r.output.format == "arrow" and r.output.shard_bytes == 256 << 20
    r = load_recipe(_write(data, GOOD.replace("output:\n  path: out\n", "")), output=data / "o", fmt="parquet")
    assert r.output.path == data / "o" and r.output.format == "parquet"
    with pytest.raises(RecipeError, match="has no 'output'"):
        load_recipe(_write(data, GOOD.replace("output:\n  path: out\n", "")))
    with pytest.raises(RecipeError, match=r"r.yaml:8: output needs 'path'"):
        load_recipe(_write(data, GOOD.replace("  path: out", "  format: arrow")))


def test_fingerprints_are_those_of_the_code_before_sections_were_dataclasses(data):
    # computed by the previous recipe.py on these files: manifest.json of existing outputs must still match
    assert load_recipe(_write(data, GOOD)).fingerprint() == "8be0bd27fd2fe640"
    assert load_recipe(_write(data, FULL)).fingerprint() == "6e5a70336acbd9da"


@dataclasses.dataclass
class Demo:
    count: int = setting(help="required: no default", check=lambda n: n % 2 == 0, expect="an even integer")
    size: Size = setting(1 << 10, key="size_limit")
    tags: list[str] = setting(default_factory=list)


def test_validator_on_any_dataclass(tmp_path):
    """The validator of every section and every step's parameters, on a dataclass of its own."""
    path = tmp_path / "demo.yaml"
    ctx = Context(path)

    def check(text: str, **kw):
        path.write_text(text)
        doc = load_yaml(path)
        return validate(ctx, Demo, doc, Scope("demo", line_of(doc, None, 1), "'demo.{}'"), **kw)

    assert check("count: 2\nsize_limit: 2KiB\n") == {"count": 2, "size": 2048}
    assert Demo(**check("count: 4\ntags: [a]\n")) == Demo(4, 1 << 10, ["a"])
    for text, line, words in [
        ("count: 3\n", 1, "'demo.count' must be an even integer, got 3"),
        ("count: 2\ntag: [a]\n", 2, "unknown key 'tag' in demo (did you mean 'tags'?); allowed: count, size_limit, "
                                    "tags"),
        ("count: 2\ntags: [1]\n", 2, "'demo.tags' must be list of str, got [1]"),
        ("tags: []\n", 1, "demo needs 'count'"),
        ("count: 2\nsize_limit: much\n", 2, "cannot read size 'much': write e.g. 256MB or 1GiB"),
    ]:
        with pytest.raises(RecipeError) as exc:
            check(text)
        assert str(exc.value) == f"{path}:{line}: {words}"
    assert check("size_limit: [x]\n", fixed={"count": 6, "size_limit": 1}) == {"count": 6, "size": 1}
