"""Training: ONE loop, :func:`fit`, with per-evaluation and per-step hooks and ONE :class:`History`.

See :mod:`lecturelib.train.loop` for the loop and its formula.
"""

from .loop import OPTIMIZERS, History, evaluate, fit, make_optimizer
from .progress import progress_over
from .stacked import fit_stacked

__all__ = ["History", "make_optimizer", "fit", "evaluate", "OPTIMIZERS", "fit_stacked", "progress_over"]
