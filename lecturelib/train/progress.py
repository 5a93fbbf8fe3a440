"""Progress bars for training: tqdm's bar, drawn as a widget in JupyterLab and as text in a terminal.

A bar is shown only when asked for (``progress=True``, or ``progress=None`` and
:func:`lecturelib.device.progress_enabled`, i.e. ``LECTURELIB_PROGRESS`` is not ``0``), and only
once its run has lasted :data:`DELAY` seconds, so quick runs, stored notebook outputs and the
tests show none. It disappears when the run ends (``leave=False``): the notebook keeps its output.
"""

from __future__ import annotations

from tqdm.auto import tqdm

from .._checks import check_type
from ..device import progress_enabled

__all__ = ["DELAY", "wants_progress", "epoch_bar", "progress_over"]

DELAY = 2.0  # seconds a run lasts before its bar appears


def wants_progress(progress: bool | None) -> bool:
    """``progress`` as a yes/no: ``None`` follows ``LECTURELIB_PROGRESS``."""
    return progress_enabled() if progress is None else bool(progress)


def epoch_bar(epochs: int, description: str, show: bool):
    """A bar counting ``epochs`` epochs, or ``None`` when not ``show`` or there is nothing to count."""
    if not show or epochs <= 0:
        return None
    return tqdm(total=epochs, desc=description, unit="epoch", delay=DELAY, leave=False)


def progress_over(iterable, description: str, total: int | None = None, unit: str = "run",
                  progress: bool | None = None):
    """``iterable``, with a bar counting its items when progress is wanted (``wants_progress``).

    For a sweep of many runs, each too quick to show a bar of its own:
    ``for lr in progress_over(rates, "learning rates"): ...``. ``total`` defaults to ``len(iterable)``.
    """
    check_type("description", description, str)
    if not wants_progress(progress):
        return iterable
    return tqdm(iterable, desc=description, total=total, unit=unit, delay=DELAY, leave=False)
