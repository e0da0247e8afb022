"""dataprep: turn raw text corpora into clean, deduplicated, mixed, tokenized and packed training shards.

Public API::

    from dataprep import load_recipe, run_recipe, ExactDedup, MinHashDeduplicator, Step, GlobalStep, read_file
    from dataprep import plan_mixture, pack, PackedDataset

Names are imported on first use (PEP 562), so ``dataprep.shards`` and ``dataprep.train`` load with numpy and
torch alone on machines without the cleaning dependencies.
"""

from dataprep.lazy import exports

__version__ = "0.1.0"

_EXPORTS = {
    "DOC_SCHEMA": "dataprep.schema",
    "REGISTRY": "dataprep.registry",
    "DataprepError": "dataprep.errors",
    "ExactDedup": "dataprep.dedup",
    "GlobalStep": "dataprep.step",
    "InputError": "dataprep.errors",
    "MinHashDeduplicator": "dataprep.dedup",
    "PackedDataset": "dataprep.shards",
    "ParagraphDedup": "dataprep.dedup",
    "ReadOptions": "dataprep.io",
    "Recipe": "dataprep.recipe",
    "RecipeError": "dataprep.errors",
    "PipelineResult": "dataprep.pipeline",
    "RunResult": "dataprep.execution.run",
    "ShardWriter": "dataprep.io",
    "Step": "dataprep.step",
    "expand_paths": "dataprep.io",
    "load_recipe": "dataprep.recipe",
    "pack": "dataprep.pack",
    "plan_mixture": "dataprep.mixing",
    "read_documents": "dataprep.io",
    "read_file": "dataprep.io",
    "read_frame": "dataprep.io",
    "read_table": "dataprep.io",
    "register": "dataprep.registry",
    "run_mixture": "dataprep.mixing",
    "run_recipe": "dataprep.pipeline",
    "train_bpe": "dataprep.tokenizer",
    "train_lm": "dataprep.lm",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = exports(__name__, _EXPORTS, globals())
