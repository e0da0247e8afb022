"""The step registry and recipe plugins: built-in steps load by name from their entry points, and a recipe's
``plugins:`` module (here a ``my_steps.py`` beside the recipe) registers a step that ``dataprep run`` runs."""

from __future__ import annotations

import importlib.metadata
import sys
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import pytest
from conftest import run_cli, tree_digest, write_jsonl, write_recipe

from dataprep import registry
from dataprep.errors import RecipeError
from dataprep.inspect import scan_folder
from dataprep.recipe import load_recipe
from dataprep.step import Step

PLUGIN = '''
import dataclasses

import polars as pl

from dataprep.registry import register
from dataprep.step import Step


@register
@dataclasses.dataclass
class Shout(Step):
    """Upper-case the text and append ``suffix``; reject documents shorter than ``min_chars``."""

    name = "{name}"
    suffix: str = dataclasses.field(default="!", metadata={{"help": "appended to every document"}})
    min_chars: int = 0

    def annotate_polars(self, df):
        return df.with_columns((pl.col("text").str.to_uppercase() + self.suffix).alias("text"))

    def reason_expr(self, df):
        return pl.when(pl.col("text").str.len_chars() < self.min_chars + len(self.suffix)).then(pl.lit("short"))
'''


def _plugin_recipe(tmp_path, module: str, step: str, params: dict | None = None):
    (tmp_path / f"{module}.py").write_text(PLUGIN.format(name=step))
    for i in range(3):  # three files, several tasks (split_bytes), so that two workers share them
        write_jsonl(tmp_path / "d" / f"{i}.jsonl", [{"id": f"{i}-{j}", "text": "hi" * j} for j in range(1, 5)])
    return write_recipe(tmp_path / "r.yaml", [{"name": "d", "paths": ["d/"]}],
                        steps=[{step: params or {}}], plugins=[module], executor={"split_bytes": 64})


#: plugin modules the ``isolated`` fixture (conftest) forgets after each test
PLUGIN_PREFIXES = ("plugin_",)


def test_builtin_steps_load_by_name():
    names = {ep.name for ep in importlib.metadata.entry_points(group=registry.GROUP)}
    assert {"exact_dedup", "minhash_dedup", "paragraph_dedup", "c4", "pii", "language"} <= names
    for name in sorted(names):
        cls = registry.get_step(name)
        assert isinstance(cls, type) and issubclass(cls, Step) and cls.name == name, name
    every = registry.all_steps()
    assert names <= set(every) and all(cls.name == name for name, cls in every.items())
    assert list(every) == sorted(every) and names <= set(registry.step_names())
    assert registry.get_step("no_such_step") is None


def test_plugin_step_runs_from_dataprep_run(tmp_path):
    recipe = _plugin_recipe(tmp_path, "plugin_run_steps", "plugin_shout", {"suffix": "?", "min_chars": 3})
    run_cli("run", str(recipe), "-o", str(tmp_path / "o1"), "-w", "1", "-q")
    run_cli("run", str(recipe), "-o", str(tmp_path / "o2"), "-w", "2", "-q")  # spawned workers import it too
    assert tree_digest(tmp_path / "o1") == tree_digest(tmp_path / "o2")
    kept = scan_folder(tmp_path / "o1" / "kept").collect().sort("id")
    assert kept["text"].to_list() == ["HIHI?", "HIHIHI?", "HIHIHIHI?"] * 3
    rejected = scan_folder(tmp_path / "o1" / "rejected").collect()
    assert rejected["step"].to_list() == ["plugin_shout"] * 3 and set(rejected["reason"]) == {"short"}


def test_plugin_recipe_validates_and_its_steps_pickle_to_spawned_workers(tmp_path, isolated):
    recipe = _plugin_recipe(tmp_path, "plugin_pickled", "plugin_pickled_shout", {"suffix": "?"})
    rec = load_recipe(recipe)
    assert rec.plugins == ["plugin_pickled"] and rec.steps[0].step.suffix == "?"
    assert str(tmp_path) in sys.path
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:  # as the local runner's workers
        assert pool.submit(repr, rec.steps[0].step).result() == repr(rec.steps[0].step)
    # plugins enter the fingerprint; without them it is as before this key existed (see test_recipe.py)
    recipe.write_text(recipe.read_text().replace("plugins:\n- plugin_pickled\n", ""))
    without = load_recipe(recipe)  # the step stays registered in this process
    assert without.plugins == [] and without.fingerprint() != rec.fingerprint()


def test_plugin_errors_name_the_line(tmp_path, isolated):
    recipe = _plugin_recipe(tmp_path, "plugin_errors", "plugin_errors_shout")
    body = recipe.read_text()
    lines = body.splitlines()
    module_line = lines.index("- plugin_errors") + 1
    missing = tmp_path / "missing.yaml"
    missing.write_text(body.replace("- plugin_errors", "- plugin_not_there"))
    with pytest.raises(RecipeError, match=rf"missing.yaml:{module_line}: plugin module 'plugin_not_there' cannot"):
        load_recipe(missing)
    bad = tmp_path / "bad.yaml"
    bad.write_text(body.replace("- plugin_errors", "- not a module"))
    with pytest.raises(RecipeError, match=r"bad.yaml:\d+: 'plugins' must be a list of module names"):
        load_recipe(bad)
    typo = tmp_path / "typo.yaml"
    typo.write_text(body.replace("plugin_errors_shout:", "plugin_errors_shuot:"))
    with pytest.raises(RecipeError, match="unknown step 'plugin_errors_shuot' \\(did you mean 'plugin_errors_shout'"):
        load_recipe(typo)  # suggestions know the plugin's steps
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(body.replace("plugin_errors_shout: {}", "plugin_errors_shout: {suffix: 3}"))
    with pytest.raises(RecipeError, match="step 'plugin_errors_shout': parameter 'suffix' must be str, got 3"):
        load_recipe(wrong)


def test_a_plugin_cannot_take_a_builtin_name_before_the_builtin_loads(isolated):
    """'c4' belongs to its entry point whether or not filters.c4 was imported yet: a class of another module
    registering under that name is refused instead of silently shadowing the built-in."""
    registry.REGISTRY.pop("c4", None)

    class Impostor(Step):
        name = "c4"

    with pytest.raises(ValueError, match="taken by the entry point filters.c4:C4Filter"):
        registry.register(Impostor)
    assert registry.get_step("c4").__module__ == "filters.c4"
