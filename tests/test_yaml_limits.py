"""YAML that would exhaust memory or run code is refused when the recipe is loaded, with one short message
naming the file and line: alias bombs ("billion laughs"), self-referring aliases, nesting past the parser's
depth, and tags that construct Python objects. Messages never format more than a bounded part of a value."""

from __future__ import annotations

import time
import tracemalloc

import pytest
from conftest import write_jsonl

from dataprep.config import MAX_ALIAS_EXPANSION, REPR_CHARS, Scope, load_yaml, short_repr
from dataprep.errors import RecipeError
from dataprep.recipe import load_recipe

HEAD = """name: t
sources:
  - name: x
    paths: [d/x.jsonl]
output:
  path: out
"""


def _bomb(levels: int = 9, width: int = 9) -> str:
    lines = [f"  l0: &l0 [{', '.join(['lol'] * width)}]"]
    for i in range(1, levels):
        lines.append(f"  l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]")
    return "\n".join(lines)


@pytest.fixture
def data(tmp_path):
    write_jsonl(tmp_path / "d/x.jsonl", [{"text": "hello"}])
    return tmp_path


def test_alias_bomb_in_a_step_parameter_is_refused_at_load_in_little_memory(data):
    recipe = data / "r.yaml"
    recipe.write_text(HEAD + "steps:\n  - c4:\n      min_words:\n" + _bomb().replace("  l", "        l") + "\n")
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(RecipeError) as err:
            load_recipe(recipe)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(err.value)
    assert message.startswith(f"{recipe}:10: refused:") and "alias bomb" in message
    assert len(message) < 400 and "\n" not in message
    assert peak < 20 << 20, peak  # 9**9 "lol"s would be gigabytes once walked or formatted
    assert time.perf_counter() - start < 5


def test_aliases_that_refer_to_themselves_are_refused(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("a: &x [1, *x]\n")
    with pytest.raises(RecipeError, match=r"r.yaml:1: refused: an alias refers to the node that holds it"):
        load_yaml(path)
    path.write_text("a: &m {k: *m}\n")
    with pytest.raises(RecipeError, match="refers to the node that holds it"):
        load_yaml(path)


def test_ordinary_anchors_aliases_and_merge_keys_still_load(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("base: &b {min_words: 3, lang: [en, fr]}\nsteps:\n  - c4: *b\n  - c4: {<<: *b, min_words: 5}\n"
                    + "many: [" + ", ".join(["*b"] * 500) + "]\n")
    doc = load_yaml(path)
    assert doc["steps"][0]["c4"] == {"min_words": 3, "lang": ["en", "fr"]}
    assert doc["steps"][1]["c4"] == {"min_words": 5, "lang": ["en", "fr"]}
    assert len(doc["many"]) == 500


def test_the_alias_limit_is_on_the_expansion_not_the_number_of_aliases(tmp_path):
    """Just under and just over the bound: a long scalar aliased many times counts by its characters."""
    per = 1000
    under = MAX_ALIAS_EXPANSION // (per + 1) - 2
    path = tmp_path / "r.yaml"
    path.write_text(f"s: &s {'z' * per}\nl: [" + ", ".join(["*s"] * under) + "]\n")
    assert len(load_yaml(path)["l"]) == under
    path.write_text(f"s: &s {'z' * per}\nl: [" + ", ".join(["*s"] * (under + 5)) + "]\n")
    with pytest.raises(RecipeError, match="alias bomb"):
        load_yaml(path)


def test_deep_nesting_is_a_one_line_error(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("a: " + "[" * 2000 + "]" * 2000 + "\n")
    with pytest.raises(RecipeError, match=r"r.yaml.*(nested too deeply|invalid YAML)"):
        load_yaml(path)


@pytest.mark.parametrize("tag", ["!!python/object/apply:os.system ['echo pwned']", "!!python/name:os.system",
                                 "!!python/object/new:subprocess.Popen [['true']]"])
def test_yaml_tags_cannot_construct_python_objects(tmp_path, tag):
    path = tmp_path / "r.yaml"
    path.write_text(f"name: t\nx: {tag}\n")
    with pytest.raises(RecipeError, match=r"r.yaml:2: invalid YAML"):
        load_yaml(path)


def test_messages_show_a_bounded_part_of_a_value():
    shared: list = ["lol"] * 9
    for _ in range(12):  # 9**13 items once expanded: formatting it whole would never end
        shared = [shared] * 9
    start = time.perf_counter()
    text = short_repr(shared)
    assert time.perf_counter() - start < 1 and len(text) <= REPR_CHARS + 3 and text.endswith("...")
    assert short_repr("x" * 10**7).startswith("'xxx") and len(short_repr("x" * 10**7)) <= REPR_CHARS + 3
    assert short_repr({"a": 1, "b": [1, "two"]}) == repr({"a": 1, "b": [1, "two"]})
    assert short_repr(3.5) == "3.5" and short_repr(None) == "None"
    message = Scope("demo", 1, key="'demo.{}'").wrong("count", "an integer", shared)
    assert len(message) < REPR_CHARS + 60


def test_a_wrong_type_error_on_a_large_value_is_short(data):
    recipe = data / "r.yaml"
    recipe.write_text(HEAD + "steps:\n  - c4:\n      min_words: [" + ", ".join(["'" + "w" * 1000 + "'"] * 300)
                      + "]\n")
    with pytest.raises(RecipeError) as err:
        load_recipe(recipe)
    assert len(str(err.value)) < 600 and "min_words" in str(err.value)
