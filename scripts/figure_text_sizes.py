"""How tall the text of every stored figure is on the book's page, smallest first.

    python scripts/figure_text_sizes.py [--points 10] [--column 688] [book/<chapter> | notebook.ipynb ...]

A stored figure is a PNG of the figure's tight bounding box at 100 dpi; the page shows it at its
own width or, if wider, scaled down to the content column (688 CSS px on a 1280-px desktop, 358 px
on a 390-px phone). A text of ``points`` pt is then ``points * 100 / 72 * min(1, column / width)``
px tall (lecturelib.plotting.readability.displayed_px). The PNG does not record its font sizes,
so ``--points`` is the smallest one the figure was drawn with: the house style's by default.
tests/test_plotting_readability.py measures every drawn text exactly, on the plotting functions'
layouts. Prints one line per figure and exits 1 if any is under 9 px.
"""

import argparse
import base64
import json
import sys
from pathlib import Path

from lecturelib.plotting import COLUMN_PX, SMALLEST_TEXT
from lecturelib.plotting.readability import displayed_px, png_width

ROOT = Path(__file__).resolve().parents[1]
DPI = 100  # the house style's figure.dpi, at which the inline backend stores figures
LEGIBLE_PX = 9.0


def stored_figures(notebook: Path):
    """(cell index, PNG width in px, the cell's first line) for every PNG output of ``notebook``."""
    cells = json.loads(notebook.read_text())["cells"]
    for index, cell in enumerate(cells):
        for output in cell.get("outputs", []):
            png = output.get("data", {}).get("image/png")
            if png:
                first_line = "".join(cell["source"]).strip().splitlines()[0][:70]
                yield index, png_width(base64.b64decode(png)), first_line


def notebooks(paths):
    for path in map(Path, paths or [ROOT / "book"]):
        found = sorted(path.rglob("*.ipynb")) if path.is_dir() else [path]
        yield from (notebook for notebook in found if ".ipynb_checkpoints" not in notebook.parts)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", help="notebooks or folders (default: book/)")
    parser.add_argument("--points", type=float, default=SMALLEST_TEXT, help="the figures' smallest font size, pt")
    parser.add_argument("--column", type=float, default=COLUMN_PX, help="the content column's width, CSS px")
    args = parser.parse_args(argv)
    rows = []
    for notebook in notebooks(args.paths):
        for index, width, first_line in stored_figures(notebook):
            px = displayed_px(args.points, DPI, width, args.column)
            rows.append((px, f"{notebook.relative_to(ROOT) if notebook.is_absolute() else notebook}#{index}",
                         width, first_line))
    rows.sort()
    for px, where, width, first_line in rows:
        print(f"{px:5.1f} px  {'SMALL' if px < LEGIBLE_PX else 'ok   '}  {width:5d} px wide  {where}  {first_line}")
    small = sum(px < LEGIBLE_PX for px, *_ in rows)
    print(f"{len(rows)} figures; {small} with {args.points:g}-pt text under {LEGIBLE_PX:g} px "
          f"in a {args.column:g}-px column")
    return 1 if small else 0


if __name__ == "__main__":
    sys.exit(main())
