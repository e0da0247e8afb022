"""The ``dataprep`` command: run recipes, validate them, list steps, inspect outputs.

Errors a user can fix (a broken recipe, a missing input, an output folder of another run) print one line
naming the problem and exit 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator
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


def _texts(patterns: tuple[str, ...], text_field: str, where: str | None) -> Iterator[str]:
    from dataprep.io.readers import read_documents

    for table in read_documents(list(patterns), text_field=text_field, where=where):
        yield from table.column("text").to_pylist()


@main.group()
def lm() -> None:
    """KenLM language models for the perplexity filter: train them, compute bucket cutoffs."""


@lm.command("train")
@click.option("--text", "texts", multiple=True, required=True,
              help="Training text: files, folders or globs (text, JSONL, Parquet, Arrow); repeatable.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Model file to write.")
@click.option("--order", type=click.IntRange(2, 6), default=5, show_default=True, help="N-gram order.")
@click.option("--text-field", default="text", show_default=True, help="Text field of JSONL/Parquet/Arrow input.")
@click.option("--where", default=None, help="Only records whose field equals a value, e.g. lang=en.")
@click.option("--memory", default="20%", show_default=True, help="lmplz -S: memory for sorting.")
def lm_train(texts: tuple[str, ...], out: Path, order: int, text_field: str, where: str | None,
             memory: str) -> None:
    """Train a KenLM model with lmplz and build_binary (built from the kenlm sdist when not on PATH)."""
    from dataprep.lm import train_lm

    info = train_lm(_texts(texts, text_field, where), out, order=order, memory=memory)
    click.echo(f"{info['model']}: order {info['order']}, {info['lines']:,} lines, {info['tokens']:,} tokens, "
               f"{info['bytes']:,} bytes")


@lm.command("cutoffs")
@click.option("--input", "inputs", multiple=True, required=True, help="Documents to score: files, folders, globs.")
@click.option("--lang", required=True, help="Language of the documents (and of the model).")
@click.option("--model", default=None, type=click.Path(dir_okay=False, exists=True),
              help="KenLM model (default: the shipped model of --lang).")
@click.option("--text-field", default="text", show_default=True)
@click.option("--where", default=None, help="Only records whose field equals a value, e.g. lang_hint=en.")
@click.option("--out", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="JSON file to add {lang: [p30, p60]} to (created if missing).")
def lm_cutoffs(inputs: tuple[str, ...], lang: str, model: str | None, text_field: str, where: str | None,
               out: Path | None) -> None:
    """Compute CCNet's head/middle/tail cutoffs: the 30th and 60th percentile perplexities of a sample."""
    import json

    import numpy as np
    import polars as pl

    from dataprep.io.readers import read_documents
    from dataprep.io.writers import atomic_write_json
    from filters.perplexity import PerplexityFilter

    f = PerplexityFilter(models={lang: model} if model else {}, language=lang)
    ppl = []
    for table in read_documents(list(inputs), text_field=text_field, where=where):
        ppl.append(f.annotate(pl.from_arrow(table)).get_column("perplexity").drop_nulls())
    values = pl.concat(ppl).to_numpy() if ppl else np.zeros(0)
    if not len(values):
        raise DataprepError("no documents could be scored")
    p30, p60 = (float(round(v, 2)) for v in np.percentile(values, [30, 60]))
    click.echo(f"{lang}: {len(values):,} documents, p30 {p30:,.1f}, p60 {p60:,.1f}")
    if out:
        doc = json.loads(out.read_text()) if out.exists() else {}
        doc[lang] = [p30, p60]
        atomic_write_json(out, dict(sorted(doc.items())))
        click.echo(f"written to {out}")


@main.group()
def classifier() -> None:
    """fastText quality classifiers for the quality_classifier step."""


@classifier.command("train")
@click.option("--positive", multiple=True, required=True, help="High-quality documents: files, folders, globs.")
@click.option("--negative", multiple=True, required=True, help="Low-quality documents: files, folders, globs.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Model file to write.")
@click.option("--text-field", default="text", show_default=True)
@click.option("--epoch", default=5, show_default=True, type=click.IntRange(1))
@click.option("--lr", default=0.1, show_default=True, type=click.FloatRange(0, min_open=True))
@click.option("--word-ngrams", default=2, show_default=True, type=click.IntRange(1, 5))
@click.option("--seed", default=0, show_default=True)
def classifier_train(positive: tuple[str, ...], negative: tuple[str, ...], out: Path, text_field: str, epoch: int,
                     lr: float, word_ngrams: int, seed: int) -> None:
    """Train a fastText classifier (labels hq/lq); retries with a lower learning rate if training diverges."""
    from filters.classifier import train_classifier

    info = train_classifier(_texts(positive, text_field, None), _texts(negative, text_field, None), out,
                            epoch=epoch, lr=lr, word_ngrams=word_ngrams, seed=seed)
    click.echo(f"{info['model']}: {info['positive']:,} positive, {info['negative']:,} negative documents, "
               f"lr {info['lr']}")


if __name__ == "__main__":  # pragma: no cover
    main()
