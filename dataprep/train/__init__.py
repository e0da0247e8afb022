"""GPU training entrypoint on packed shards: a LLaMA-style model, exact resume, perplexity and bits per byte.

``dataprep train CONFIG``, ``python -m dataprep.train CONFIG`` or ``torchrun --nproc_per_node N -m
dataprep.train CONFIG``. Imports only torch, numpy and the standard library.
"""

from dataprep.train.loop import TrainConfig, evaluate, load_config, lr_at, main, train
from dataprep.train.model import PRESETS, ModelConfig, Transformer

__all__ = ["PRESETS", "ModelConfig", "TrainConfig", "Transformer", "evaluate", "load_config", "lr_at", "main",
           "train"]
