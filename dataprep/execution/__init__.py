"""Running a recipe's cleaning: the plan (tasks, stages), one task, the global fits between stages, the runners
(this machine's processes, or Ray) and the run that ties them together.

This package's ``__init__`` imports nothing: a spawned worker process imports :mod:`.worker` (its initializer)
before polars and pyarrow, so that it can limit their threads first.
"""
