"""Filters users import: each is a step object called on a polars DataFrame or an Arrow table.

Every filter has three faces: ``f.annotate(df)`` adds score columns, ``f(df)`` keeps the rows that pass, and
``kept, rejected = f.split(df)`` returns the rejected rows with ``step`` and ``reason``. The same objects are
recipe steps (``dataprep steps`` lists them).
"""

from dataprep.step import GlobalStep, Step, register

__all__ = ["GlobalStep", "Step", "register"]
