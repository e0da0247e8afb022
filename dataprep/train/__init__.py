"""GPU training entrypoint on packed shards: a LLaMA-style model, exact resume, perplexity and bits per byte.

``dataprep train CONFIG``, ``python -m dataprep.train CONFIG`` or ``torchrun --nproc_per_node N -m
dataprep.train CONFIG``. Imports only torch, numpy and the standard library. Names load on first use
(:mod:`dataprep.lazy`), so ``dataprep.train.config`` (the settings) imports without torch.
"""

from dataprep.lazy import exports

_EXPORTS = {
    "PRESETS": "dataprep.train.config",
    "ModelConfig": "dataprep.train.config",
    "TrainConfig": "dataprep.train.config",
    "load_config": "dataprep.train.config",
    "Transformer": "dataprep.train.model",
    "evaluate": "dataprep.train.loop",
    "lr_at": "dataprep.train.loop",
    "main": "dataprep.train.loop",
    "train": "dataprep.train.loop",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = exports(__name__, _EXPORTS, globals())
