"""The ``dataprep`` command: run recipes, validate them, list steps, inspect outputs.

Errors a user can fix (a broken recipe, a missing input, an output folder of another run) print one line
naming the problem and exit 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import click

from dataprep.errors import DataprepError


class _Group(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except DataprepError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=_Group)
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.version_option(package_name="dataprep")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """dataprep: clean, deduplicate, mix, tokenize and pack text corpora for LLM training."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


@main.command()
@click.argument("recipe", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--workers", "-w", type=click.IntRange(min=0), default=None,
              help="Worker processes (default: the recipe's executor.workers, else 0 = all cores).")
@click.option("--output", "-o", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder (default: the recipe's output.path).")
@click.option("--format", "fmt", type=click.Choice(["arrow", "parquet"]), default=None,
              help="Shard format (default: the recipe's output.format, else arrow).")
@click.option("--overwrite", is_flag=True, help="Delete a previous or different run in the output folder first.")
@click.option("--strict", is_flag=True, help="Exit with status 1 when any record was quarantined.")
@click.option("--quiet", "-q", is_flag=True, help="No progress lines; the summary table is still printed.")
def run(recipe: Path, workers: int | None, output: Path | None, fmt: str | None, overwrite: bool,
        strict: bool, quiet: bool) -> None:
    """Run RECIPE over its sources with the local executor.

    An interrupted run resumes where it stopped when started again with the same recipe and output.
    """
    from dataprep.executor import run_recipe
    from dataprep.recipe import load_recipe
    from dataprep.stats import summary_table

    rec = load_recipe(recipe, output=output, fmt=fmt)
    result = run_recipe(rec, workers=workers, overwrite=overwrite, quiet=quiet)
    if result.skipped:
        click.echo(f"{result.output} already holds the finished output of this recipe (use --overwrite to redo it)")
    click.echo(summary_table(result.stats, None if result.skipped else result.seconds))
    click.echo(f"\noutput: {result.output} (stats.json, kept/, rejected/, duplicates/, quarantine/)")
    if strict and result.stats["counts"]["quarantined"]:
        click.echo(f"strict: {result.stats['counts']['quarantined']} records were quarantined", err=True)
        sys.exit(1)


@main.group()
def recipe() -> None:
    """Work with recipe files."""


@recipe.command("validate")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def recipe_validate(path: Path) -> None:
    """Check a recipe (steps, parameters, inputs) without running it."""
    from dataprep.recipe import load_recipe

    rec = load_recipe(path)
    n_files = sum(len(s.files) for s in rec.sources)
    click.echo(f"{path}: ok — {len(rec.sources)} sources, {n_files} files, {len(rec.steps)} steps "
               f"({', '.join(c.label for c in rec.steps) or 'none'}), output {rec.output.path} "
               f"as {rec.output.format}")


@main.command()
@click.argument("name", required=False)
def steps(name: str | None) -> None:
    """List every step with its parameters and defaults (or one step, by NAME)."""
    from dataprep.recipe import type_name
    from dataprep.step import load_builtin_steps

    registry = load_builtin_steps()
    names = sorted(registry) if name is None else [name]
    for n in names:
        if n not in registry:
            raise DataprepError(f"unknown step '{n}'; known: {', '.join(sorted(registry))}")
        cls = registry[n]
        kind = "global" if cls.is_global else "batch"
        click.echo(f"{n}  [{kind}]  {cls.__module__}.{cls.__qualname__}")
        click.echo(f"    {cls.summary()}")
        for p in cls.params():
            default = "required" if p["default"] is dataclasses.MISSING else f"default {p['default']!r}"
            help_ = f" — {p['help']}" if p["help"] else ""
            click.echo(f"    {p['name']}: {type_name(p['type'])} ({default}){help_}")
        click.echo("")


@main.command()
@click.argument("out", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--step", "-s", default=None, help="Only documents rejected by this step.")
@click.option("--reason", "-r", default=None, help="Only documents rejected for this reason.")
@click.option("-n", "count", type=click.IntRange(min=1), default=5, show_default=True, help="How many to show.")
@click.option("--duplicates", is_flag=True, help="Show removed duplicates next to the copy that was kept.")
@click.option("--quarantine", is_flag=True, help="Show quarantined (malformed) records with file and line.")
@click.option("--width", type=click.IntRange(min=20), default=600, show_default=True,
              help="Characters of text shown per document.")
def inspect(out: Path, step: str | None, reason: str | None, count: int, duplicates: bool, quarantine: bool,
            width: int) -> None:
    """Print sample rejected, duplicate or quarantined documents from a run's output folder OUT."""
    from dataprep.inspect import format_inspect

    click.echo(format_inspect(out, step, reason, count, duplicates, quarantine, width))


if __name__ == "__main__":  # pragma: no cover
    main()
