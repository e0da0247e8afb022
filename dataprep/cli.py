"""The ``dataprep`` command: run recipes, validate them, list steps, inspect outputs.

Errors print one line naming the problem and where, never a traceback (``--debug`` shows it instead): a
mistake a user can fix (a broken recipe, a missing input, an output folder of another run) exits 2; a write the
machine refused (a full disk or quota, an output folder that is not writable, a read-only file system:
:func:`dataprep.errors.describe`) exits 1; Ctrl-C exits 130. The writers delete their temporary files as such
an error passes (:mod:`dataprep.io.writers`), so a failed command leaves none behind. Warnings print as one
``warning:`` line each.
"""

from __future__ import annotations

import dataclasses
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from dataprep.errors import DataprepError, describe, exit_code

#: the commands that resume where they stopped when run again (said after an interrupt)
RESUMABLE = ("run", "pack", "train")


class _Group(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (DataprepError, OSError, KeyboardInterrupt) as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            line = describe(exc)
            if isinstance(exc, KeyboardInterrupt) and ctx.invoked_subcommand in RESUMABLE:
                line += "; run the same command again to resume"
            click.echo(f"error: {line}", err=True)
            sys.exit(exit_code(exc))


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None,
                  line: str | None = None) -> None:
    """``warnings.showwarning`` for the command: the message alone, on one line."""
    click.echo(f"warning: {message}", err=True)


@click.group(cls=_Group)
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.version_option(package_name="dataprep")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """dataprep: clean, deduplicate, mix, tokenize and pack text corpora for LLM training."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    if not debug:
        warnings.showwarning = _show_warning


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
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="Where tasks run: this machine's processes, or Ray (pip install -e '.[ray]').")
@click.option("--address", default=None, help="With --executor ray: an existing cluster (e.g. ray://head:10001, "
                                               "or auto); default: start Ray on this machine.")
def run(recipe: Path, workers: int | None, output: Path | None, fmt: str | None, overwrite: bool,
        strict: bool, quiet: bool, executor: str, address: str | None) -> None:
    """Run RECIPE: clean its sources, then its tokenizer, mixture, pack and train sections, if it has them.

    An interrupted run resumes where it stopped when started again with the same recipe and output.
    """
    from dataprep.pipeline import run_recipe
    from dataprep.recipe import load_recipe

    rec = load_recipe(recipe, output=output, fmt=fmt)
    runner = None
    if executor == "ray":
        from dataprep.execution.ray import RayRunner

        runner = RayRunner(address=address, num_cpus=workers or None)
    result = run_recipe(rec, workers=workers, overwrite=overwrite, quiet=quiet, runner=runner,
                        on_section=_echo_section, log=click.echo)
    stats = result.clean.stats
    if strict and stats["counts"]["quarantined"]:
        click.echo(f"strict: {stats['counts']['quarantined']} records were quarantined", err=True)
        sys.exit(1)


def _echo_section(name: str, result: Any) -> None:
    """Print what one section of the pipeline produced, as it ends (the pipeline's ``on_section``)."""
    if name == "clean":
        from dataprep.stats import summary_table

        if result.skipped:
            click.echo(f"{result.output} already holds the finished output of this recipe "
                       "(use --overwrite to redo it)")
        click.echo(summary_table(result.stats, None if result.skipped else result.seconds))
        click.echo(f"\noutput: {result.output} (stats.json, kept/, rejected/, duplicates/, quarantine/)")
    elif name == "tokenizer" and result.trained is not None:
        info = result.trained
        click.echo(f"\ntokenizer: trained {info['tokenizer']} (vocabulary {info['vocab_size']:,}) on "
                   f"{info['documents']:,} kept documents")
    elif name == "mixture":
        click.echo("\nmixture:")
        _echo_mix(result.report, result.path)
    elif name == "pack":
        m = result.manifest
        tr, va = m["splits"]["train"], m["splits"]["val"]
        click.echo(f"pack: {result.path}: train {tr['n_tokens']:,} tokens ({tr['n_windows']:,} windows of "
                   f"{result.seq_len}), val {va['n_tokens']:,} tokens, {m['dtype']}")
        _echo_refused(m)
    elif name == "train":
        if result.skipped:
            click.echo(f"train: skipped: {result.skipped}")
        elif result.records:
            first, last = result.records[0], result.records[-1]
            click.echo(f"train: {result.path}: loss {first['loss']:.3f} (step {first['step']}) -> "
                       f"{last['loss']:.3f} (step {last['step']})"
                       + (f", validation perplexity {last['val_ppl']:.1f}" if "val_ppl" in last else ""))
        else:
            click.echo(f"train: {result.path} already holds {result.max_steps} steps")


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
    from dataprep.config import type_name
    from dataprep.registry import all_steps

    registry = all_steps()
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
    click.echo("Every step also takes 'sources: [name, ...]': run it on those sources' documents only.")


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


@main.group()
def mix() -> None:
    """Plan and draw source mixtures in tokens, with epochs per source."""


@mix.command("plan")
@click.argument("mixture", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def mix_plan(mixture: Path) -> None:
    """Print tokens available, weight, tokens to draw and epochs per source of MIXTURE (YAML)."""
    import warnings

    from dataprep.mixing import count_tokens, format_plan, load_mixture, plan_mixture

    mx = load_mixture(mixture)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plan = plan_mixture(count_tokens(mx), {s.name: s.weight for s in mx.sources}, mx.total_tokens,
                            mx.max_epochs)
    click.echo(f"{mx.name}: {mx.total_tokens:,} tokens")
    click.echo(format_plan(plan))
    for w in caught:
        click.echo(f"warning: {w.message}", err=True)


@mix.command("run")
@click.argument("mixture", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--output", "-o", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the mixed Arrow shards and mix.json.")
def mix_run(mixture: Path, output: Path) -> None:
    """Draw the mixture: whole passes over small sources plus a seeded random fraction, at document level."""
    from dataprep.mixing import load_mixture, run_mixture

    _echo_mix(run_mixture(load_mixture(mixture), output), output)


def _echo_mix(report: dict, output: Path) -> None:
    click.echo(f"{'source':<16}{'planned share':>14}{'realized share':>15}{'tokens':>14}{'epochs':>8}")
    for name, e in report["sources"].items():
        click.echo(f"{name:<16}{e['planned_share']:>14.4f}{e['realized_share']:>15.4f}{e['realized_tokens']:>14,}"
                   f"{e['epochs']:>8.3f}")
    click.echo(f"{report['realized_total_tokens']:,} tokens in {output} (mix.json has the details)")


@main.group()
def tokenizer() -> None:
    """Train a byte-level BPE tokenizer, or extend one with new tokens for a language."""


@tokenizer.command("train")
@click.option("--input", "inputs", multiple=True, required=True, help="Cleaned shards: files, folders, globs.")
@click.option("--vocab-size", type=click.IntRange(300), default=32000, show_default=True)
@click.option("--out", required=True, type=click.Path(path_type=Path), help="tokenizer.json to write (or a folder).")
@click.option("--special", multiple=True, help="Special tokens (default: <|endoftext|> <|pad|>); the first is EOS.")
@click.option("--min-frequency", type=click.IntRange(1), default=2, show_default=True)
@click.option("--limit-docs", type=click.IntRange(1), default=None, help="Train on the first N documents only.")
def tokenizer_train(inputs: tuple[str, ...], vocab_size: int, out: Path, special: tuple[str, ...],
                    min_frequency: int, limit_docs: int | None) -> None:
    """Train a byte-level BPE on INPUT, streaming (the corpus is never held in memory)."""
    from dataprep.tokenizer import train_bpe

    info = train_bpe(list(inputs), vocab_size, out, list(special) or None, min_frequency, limit_docs, quiet=False)
    click.echo(f"{info['tokenizer']}: vocabulary {info['vocab_size']:,}, trained on {info['documents']:,} documents")


@tokenizer.command("extend")
@click.argument("base", type=click.Path(exists=True, path_type=Path))
@click.argument("corpus", nargs=-1, required=True)
@click.option("--add", "add", type=click.IntRange(1), required=True, help="How many new tokens to add.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="tokenizer.json to write.")
def tokenizer_extend(base: Path, corpus: tuple[str, ...], add: int, out: Path) -> None:
    """Add the ADD most useful tokens for CORPUS's language to BASE (as Chinese-LLaMA did for LLaMA)."""
    from dataprep.tokenizer import extend

    info = extend(base, list(corpus), add, out)
    click.echo(f"{info['tokenizer']}: added {info['added']:,} tokens (vocabulary {info['vocab_size']:,}); "
               f"tokens per character on {info['held_out_documents']:,} held-out documents: "
               f"{info['tokens_per_char_before']:.3f} -> {info['tokens_per_char_after']:.3f}")
    click.echo(f"examples: {' '.join(info['examples'])}")


@main.command("pack")
@click.option("--input", "inputs", multiple=True, required=True, help="Cleaned or mixed shards: files, folders.")
@click.option("--tokenizer", "tok", required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--seq-len", type=click.IntRange(1), default=2048, show_default=True)
@click.option("--output", "-o", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--val-fraction", type=click.FloatRange(0, 1, max_open=True), default=0.005, show_default=True,
              help="Documents held out for validation (chosen by a hash of their id).")
@click.option("--eos", default="<|endoftext|>", show_default=True, help="The token appended to each document.")
@click.option("--overwrite", is_flag=True, help="Replace a pack of other settings in the output folder.")
@click.option("--quiet", "-q", is_flag=True)
def pack_cmd(inputs: tuple[str, ...], tok: Path, seq_len: int, output: Path, val_fraction: float, eos: str,
             overwrite: bool, quiet: bool) -> None:
    """Tokenize INPUT and write packed token shards (uint16/uint32 tokens, document index, manifest).

    Resumable: rerun the same command after an interruption."""
    from dataprep.pack import pack

    m = pack(list(inputs), tok, output, seq_len=seq_len, val_fraction=val_fraction, eos=eos, quiet=quiet,
             overwrite=overwrite)
    for split, info in m["splits"].items():
        click.echo(f"{split}: {info['n_tokens']:,} tokens, {info['n_docs']:,} documents, {info['n_windows']:,} "
                   f"windows of {seq_len}")
    click.echo(f"{output} ({m['dtype']}, tokenizer sha256 {m['tokenizer']['sha256'][:12]})")
    _echo_refused(m)


def _echo_refused(manifest: dict[str, Any]) -> None:
    """Warn about the inputs a pack refused to read (a link leaving its folder, a FIFO, a device)."""
    for r in manifest.get("refused", []):
        click.echo(f"warning: pack: {r['input']}: {r['reason']}", err=True)


@main.command("train", context_settings={"ignore_unknown_options": True})
@click.argument("config", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("overrides", nargs=-1)
@click.pass_context
def train_cmd(ctx: click.Context, config: Path, overrides: tuple[str, ...]) -> None:
    """Train a LLaMA-style model on packed shards (CONFIG: flat key: value settings; OVERRIDES: key=value).

    Same as 'python -m dataprep.train CONFIG'; for several GPUs: torchrun --nproc_per_node N -m dataprep.train."""
    from dataprep.train import main as train_main

    code = train_main([str(config), *overrides], debug=bool(ctx.obj and ctx.obj.get("debug")))
    if code:
        sys.exit(code)


@main.command("eval")
@click.argument("model", type=click.Path(exists=True, path_type=Path))
@click.option("--data", "data", multiple=True, required=True,
              help="An evaluation set, repeatable: text (any format the readers read) for perplexity and bits "
                   "per byte, or multiple choice (C-Eval/MMLU CSV, JSONL or Parquet with question, A-D, answer).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object: {set name: results}.")
@click.option("--shots", type=click.IntRange(0), default=0, show_default=True,
              help="Solved examples of the same subject before each multiple-choice question.")
@click.option("--mc-mode", type=click.Choice(["letter", "completion"]), default="letter", show_default=True,
              help="letter: highest next-token logit among A-D; completion: choice log-likelihood per byte.")
@click.option("--stride", type=click.IntRange(1), default=None,
              help="Perplexity windows start every STRIDE tokens (default: half the model's context).")
@click.option("--batch-size", type=click.IntRange(1), default=8, show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto (cuda when available) | cpu | cuda.")
def eval_cmd(model: Path, data: tuple[str, ...], as_json: bool, shots: int, mc_mode: str, stride: int | None,
             batch_size: int, device: str) -> None:
    """Evaluate MODEL (a training output folder): perplexity and bits per byte on text sets, k-shot
    multiple-choice accuracy per subject on C-Eval/MMLU-style sets."""
    import json

    import torch

    from dataprep.evaluation_data import is_multiple_choice, iter_text_batches, load_multiple_choice, set_name
    from dataprep.pack import encode, load_tokenizer
    from dataprep.train.evaluate import iter_encoded, load_model, multiple_choice, perplexity

    dev = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
    try:
        loaded = load_model(model, dev)
    except ValueError as exc:
        raise DataprepError(str(exc)) from exc
    for note in loaded.warnings:
        click.echo(f"warning: {note}", err=True)
    tok = load_tokenizer(loaded.tokenizer)

    def enc(texts: list[str]) -> list[list[int]]:
        return encode(tok, texts)

    results: dict[str, Any] = {}
    for path in data:
        name = set_name(path)
        while name in results:
            name += "_"
        if is_multiple_choice(path):
            mc = load_multiple_choice(path)
            for where, why in mc.skipped[:20]:
                click.echo(f"warning: {where}: {why}; skipped", err=True)
            if len(mc.skipped) > 20:
                click.echo(f"warning: {name}: {len(mc.skipped) - 20} more row(s) skipped", err=True)
            if not mc.items:
                raise DataprepError(f"{path}: no usable multiple-choice items")
            try:
                res = multiple_choice(loaded.model, mc.items, enc, loaded.eos_id, shots=shots, mode=mc_mode,
                                      batch_size=batch_size, device=dev)
            except ValueError as exc:
                raise DataprepError(f"{path}: {exc}") from exc
            res["skipped"] = len(mc.skipped)
            results[name] = res
            if not as_json:
                extra = f", {res['truncated']} cut to the context" if res["truncated"] else ""
                click.echo(f"{name}: accuracy {res['acc']:.4f} ({res['correct']}/{res['n']}, {mc_mode}, "
                           f"{shots}-shot{extra})")
                for subject, s in res["subjects"].items():
                    click.echo(f"  {subject:<40} {s['acc']:.4f} ({s['correct']}/{s['n']}, {s['lang']})")
        else:
            res = perplexity(loaded.model, iter_encoded(iter_text_batches(path), enc), loaded.eos_id,
                             stride=stride, batch_size=batch_size, device=dev)
            if not res["tokens"]:
                raise DataprepError(f"{path}: no text to score")
            results[name] = {k: res[k] for k in ("ppl", "bpb", "tokens", "bytes")}
            if not as_json:
                click.echo(f"{name}: ppl {res['ppl']:.3f} bpb {res['bpb']:.4f} ({res['tokens']:,} tokens, "
                           f"{res['bytes']:,} bytes, {res['documents']:,} documents)")
    if as_json:
        click.echo(json.dumps(results, ensure_ascii=False, indent=2))


if __name__ == "__main__":  # pragma: no cover
    main()
