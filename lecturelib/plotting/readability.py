r"""How big a figure's text is on the book's page.

The notebook stores a figure as a PNG of its tight bounding box at ``fig.dpi``; the page shows it
at its own width or, if wider, scaled down to the content column. A text of ``s`` points is then

.. math::

    \text{height (CSS px)} = s \cdot \frac{\text{dpi}}{72} \cdot
    \min\Bigl(1, \frac{\text{column px}}{\text{PNG width px}}\Bigr)

tall. :func:`text_sizes` draws the figure as the notebook stores it and measures every text that
is drawn: titles, axis and tick labels (3-D axes included), legends, colour bars, contour labels;
:func:`overlapping_texts` finds the drawn texts that run into each other (tick labels in a narrow
panel, the titles of neighbouring panels).
"""

from __future__ import annotations

import contextlib
import io
import struct
from dataclasses import dataclass

import matplotlib.text
from matplotlib.figure import Figure

from .._checks import check_positive, check_type
from .style import COLUMN_PX

__all__ = ["TextSize", "displayed_px", "png_width", "text_sizes", "smallest_text", "overlapping_texts"]


@dataclass(frozen=True)
class TextSize:
    """One drawn text: its content, its size in points and its height in CSS px in the column."""

    text: str
    points: float
    css_px: float


def displayed_px(points: float, dpi: float, png_width: int, column_px: float = COLUMN_PX) -> float:
    """The CSS px height of a ``points``-pt text in a PNG ``png_width`` px wide drawn at ``dpi``."""
    check_positive("points", points)
    check_positive("dpi", dpi)
    check_positive("png_width", png_width)
    check_positive("column_px", column_px)
    return points * dpi / 72 * min(1.0, column_px / png_width)


def png_width(png: bytes) -> int:
    """The width in pixels written in a PNG's header."""
    check_type("png", png, bytes, "the bytes of a PNG file")
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        raise ValueError("png must be the bytes of a PNG file (no PNG signature and header found)")
    return struct.unpack(">I", png[16:20])[0]


@contextlib.contextmanager
def _recording_drawn_texts(drawn: list):
    original = matplotlib.text.Text.draw

    def draw(self, renderer):
        if self.get_visible() and self.get_text().strip():
            drawn.append(self)
        return original(self, renderer)

    matplotlib.text.Text.draw = draw
    try:
        yield
    finally:
        matplotlib.text.Text.draw = original


def text_sizes(fig: Figure, column_px: float = COLUMN_PX) -> list[TextSize]:
    """Every text drawn in ``fig``, with its height at ``column_px``, smallest first.

    The figure is saved as the notebook's inline backend stores it (PNG, ``bbox_inches="tight"``,
    ``fig.dpi``), and that PNG's width sets the scale.
    """
    check_type("fig", fig, Figure, "a matplotlib Figure")
    check_positive("column_px", column_px)
    drawn: list = []
    buffer = io.BytesIO()
    with _recording_drawn_texts(drawn):
        fig.savefig(buffer, format="png", dpi=fig.dpi, bbox_inches="tight")
    width = png_width(buffer.getvalue())
    sizes = {(id(t), t.get_text()): TextSize(t.get_text(), float(t.get_fontsize()),
                                             displayed_px(float(t.get_fontsize()), fig.dpi, width, column_px))
             for t in drawn}
    return sorted(sizes.values(), key=lambda size: size.css_px)


def smallest_text(fig: Figure, column_px: float = COLUMN_PX) -> TextSize:
    """The smallest text drawn in ``fig`` at ``column_px`` (see :func:`text_sizes`)."""
    sizes = text_sizes(fig, column_px)
    if not sizes:
        raise ValueError("fig draws no text: nothing to measure")
    return sizes[0]


def _drawn_texts(fig: Figure) -> list:
    drawn: list = []
    with _recording_drawn_texts(drawn):
        fig.savefig(io.BytesIO(), format="png", dpi=fig.dpi, bbox_inches="tight")
    unique = {id(t): t for t in drawn}
    return list(unique.values())


def overlapping_texts(fig: Figure, tolerance_px: float = 1.0) -> list[tuple[str, str]]:
    """Pairs of texts drawn in ``fig`` whose boxes overlap by more than ``tolerance_px`` (figure px)
    in both directions; contour labels, which sit on their lines, are left out."""
    check_type("fig", fig, Figure, "a matplotlib Figure")
    check_positive("tolerance_px", tolerance_px)
    renderer = fig.canvas.get_renderer()
    texts = [t for t in _drawn_texts(fig) if not _is_contour_label(t)]
    boxes = [t.get_window_extent(renderer) for t in texts]
    pairs = []
    for i in range(len(texts)):
        for j in range(i + 1, len(texts)):
            a, b = boxes[i], boxes[j]
            width = min(a.x1, b.x1) - max(a.x0, b.x0)
            height = min(a.y1, b.y1) - max(a.y0, b.y0)
            if width > tolerance_px and height > tolerance_px:
                pairs.append((texts[i].get_text(), texts[j].get_text()))
    return pairs


def _is_contour_label(text) -> bool:
    axes = text.axes
    return axes is not None and any(text in getattr(artist, "labelTexts", ()) for artist in axes.collections)
