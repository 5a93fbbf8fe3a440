"""Runs worth keeping, keyed by what they are.

- :mod:`~lecturelib.cache.spec`: :class:`RunSpec`, a run's whole configuration, which builds and
  trains the model and describes itself for the key;
- :mod:`~lecturelib.cache.keys`: data fingerprints and descriptions of a run's fields;
- :mod:`~lecturelib.cache.store`: :func:`cached_run`, the checksummed files on disk, :func:`clear_cache`.

A notebook's cached training is one line: ``run = cache.cached_run(cache.RunSpec(...))``.
"""

from .keys import data_fingerprint
from .spec import RunSpec
from .store import CachedRun, cache_path, cached_run, clear_cache, run_key

__all__ = ["RunSpec", "CachedRun", "cached_run", "cache_path", "run_key", "clear_cache", "data_fingerprint"]
