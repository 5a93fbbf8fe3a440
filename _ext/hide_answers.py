"""Sphinx extension: with sphinx-exercise's ``hide_solutions`` (``make book SOLUTIONS=hide``), the
code answers of the exercises go too.

An auto-checked exercise's reference answer is a code cell tagged ``answer``; a written
solution's numbers are computed in a code cell tagged ``solution`` (shown collapsed, with
``hide-cell``, in the full book). myst-nb renders a cell as a container with the class
``tag_<tag>`` for each of its tags. When ``hide_solutions`` is set, every such container is
removed from the page (the checker's cell and its output stay), so a build without solutions
gives none away in code either.
"""

from __future__ import annotations

from docutils import nodes

ANSWER_CLASSES = ("tag_answer", "tag_solution")


def remove_answer_cells(doctree) -> int:
    """Remove every cell tagged ``answer`` or ``solution`` from ``doctree``; return how many went."""
    cells = [node for node in doctree.findall(nodes.container)
             if any(name in node.get("classes", []) for name in ANSWER_CLASSES)]
    for cell in cells:
        cell.parent.remove(cell)
    return len(cells)


def _on_doctree_read(app, doctree) -> None:
    if app.config.hide_solutions:
        remove_answer_cells(doctree)


def setup(app):
    if "hide_solutions" not in app.config.values:  # sphinx-exercise declares it when loaded first
        app.add_config_value("hide_solutions", False, "env")
    app.connect("doctree-read", _on_doctree_read)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
