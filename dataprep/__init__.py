"""dataprep: turn raw text corpora into clean, deduplicated, mixed, tokenized and packed training shards.

Public API::

    from dataprep import load_recipe, run_recipe, ExactDedup, Step, GlobalStep, read_file
"""

from dataprep.dedup import ExactDedup
from dataprep.errors import DataprepError, InputError, RecipeError
from dataprep.executor import RunResult, run_recipe
from dataprep.io import ReadOptions, ShardWriter, expand_paths, read_documents, read_file, read_table
from dataprep.lm import train_lm
from dataprep.recipe import Recipe, load_recipe
from dataprep.schema import DOC_SCHEMA
from dataprep.step import REGISTRY, GlobalStep, Step, register

__version__ = "0.1.0"

__all__ = [
    "DOC_SCHEMA",
    "REGISTRY",
    "DataprepError",
    "ExactDedup",
    "GlobalStep",
    "InputError",
    "ReadOptions",
    "Recipe",
    "RecipeError",
    "RunResult",
    "ShardWriter",
    "Step",
    "expand_paths",
    "load_recipe",
    "read_documents",
    "read_file",
    "read_table",
    "register",
    "run_recipe",
    "train_lm",
]
