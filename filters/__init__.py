"""Filters users import: each is a step object called on a polars DataFrame or an Arrow table.

Every filter has three faces: ``f.annotate(df)`` adds score columns, ``f(df)`` keeps the rows that pass, and
``kept, rejected = f.split(df)`` returns the rejected rows with ``step`` and ``reason``. The same objects are
recipe steps (``dataprep steps`` lists them).

- language identification: :class:`LanguageFilter` (fastText lid.176, shipped)
- perplexity: :class:`PerplexityFilter` (KenLM, CCNet-style buckets)
- heuristics: :class:`GopherQuality`, :class:`GopherRepetition`, :class:`C4Filter`, :class:`FineWebQuality`,
  :class:`CodeQuality`, :class:`BoilerplateLines`
- PII: :class:`PIIRedactor`; quality classifier: :class:`QualityClassifier`
- per source (LLaMA's mix): :class:`LicenseFilter` (code), :class:`GutenbergClean` (books), :class:`LatexClean`
  (arXiv), :class:`StackExchangeFormat`, :class:`WikiClean`, :class:`URLFilter` (web pages, RefinedWeb)
"""

from dataprep.registry import register
from dataprep.step import GlobalStep, Step
from filters.c4 import C4Filter
from filters.classifier import QualityClassifier, train_classifier
from filters.code import CodeQuality
from filters.decontaminate import Decontaminate as Decontaminate  # benchmark decontamination (GPT-3 app. C)
from filters.fineweb import FineWebQuality
from filters.gopher import GopherQuality, GopherRepetition
from filters.language import LanguageFilter
from filters.latex import LatexClean
from filters.lines import BoilerplateLines
from filters.perplexity import PerplexityFilter
from filters.pii import PIIRedactor
from filters.sources import GutenbergClean, LicenseFilter
from filters.stackexchange import StackExchangeFormat
from filters.url import URLFilter
from filters.wiki import WikiClean, wikitext_to_text

__all__ = [
    "BoilerplateLines",
    "C4Filter",
    "CodeQuality",
    "FineWebQuality",
    "GlobalStep",
    "GopherQuality",
    "GopherRepetition",
    "GutenbergClean",
    "LanguageFilter",
    "LatexClean",
    "LicenseFilter",
    "PIIRedactor",
    "PerplexityFilter",
    "QualityClassifier",
    "StackExchangeFormat",
    "Step",
    "URLFilter",
    "WikiClean",
    "register",
    "train_classifier",
    "wikitext_to_text",
]
