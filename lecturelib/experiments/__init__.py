"""The chapters' runs: one module per chapter of ``book/``, the only code above
:mod:`lecturelib.train` that trains.

An experiment describes a run with :class:`lecturelib.cache.RunSpec` and trains it through
:func:`lecturelib.cache.cached_run`, so a chapter re-executes in seconds once its models exist.
"""
