r"""Checkers for the topology chapter's exercises.

* :func:`check_component_count`: the reader's ``count_fn(values, level) -> int``, the number
  :math:`N_\lambda` of connected components of the sublevel set

  .. math:: \Omega(\lambda) = \{\, p : \text{values}[p] \le \lambda \,\}

  on a 2-D grid, two cells being neighbours when they share a face (up, down, left, right; not
  the diagonals), as in Freeman & Bruna (2016)'s level sets sampled on a grid.

The reference is a breadth-first search written out here, independently of
:mod:`lecturelib.topology` (which labels with ``scipy.ndimage.label``). On a mismatch the checker
replays the usual mistakes (8-neighbour connectivity, a strict level ``<``, the superlevel set,
counting cells instead of components) on the same grid and names the one that reproduces the answer.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from . import ExerciseResult, call_answer, require_function

__all__ = ["check_component_count"]

_FACES = ((1, 0), (-1, 0), (0, 1), (0, -1))
_CORNERS = _FACES + ((1, 1), (1, -1), (-1, 1), (-1, -1))


def _bfs_count(mask: np.ndarray, steps=_FACES) -> int:
    """Components of the True cells of a 2-D boolean ``mask``, neighbours given by ``steps``."""
    rows, cols = mask.shape
    seen = np.zeros_like(mask, dtype=bool)
    count = 0
    for i in range(rows):
        for j in range(cols):
            if not mask[i, j] or seen[i, j]:
                continue
            count += 1
            seen[i, j] = True
            queue = deque([(i, j)])
            while queue:
                a, b = queue.popleft()
                for da, db in steps:
                    u, v = a + da, b + db
                    if 0 <= u < rows and 0 <= v < cols and mask[u, v] and not seen[u, v]:
                        seen[u, v] = True
                        queue.append((u, v))
    return count


def _reference(values, level):
    return _bfs_count(values <= level)


_MISTAKES = (
    (lambda v, lam: _bfs_count(v <= lam, _CORNERS),
     "diagonal neighbours are counted as connected (8-neighbour connectivity): two cells of the sublevel "
     "set touch only when they share a face (up, down, left, right), so cells meeting at a corner are "
     "separate components."),
    (lambda v, lam: _bfs_count(v < lam),
     "the level is strict: the sublevel set is {values <= level}, so cells exactly at the level belong to it."),
    (lambda v, lam: _bfs_count(v >= lam),
     "this counts the superlevel set {values >= level}; the sublevel set is {values <= level}."),
    (lambda v, lam: int(np.count_nonzero(v <= lam)),
     "this counts the cells of the sublevel set, not its connected components."),
)


def _grid(text: str) -> np.ndarray:
    """A 0/1 picture as a float grid: '#' -> 0.0 (inside at level 0.5), '.' -> 1.0."""
    return np.array([[0.0 if c == "#" else 1.0 for c in row] for row in text.split()])


def _cases():
    """(values, level, what) grids, each chosen so that some mistake gives a different count."""
    rng = np.random.default_rng(12)
    x, y = np.meshgrid(np.linspace(-1.6, 1.6, 41), np.linspace(-1.2, 1.2, 31))
    double_well = (x ** 2 - 1) ** 2 + y ** 2
    corners = _grid("#.#. .#.# #.#. .#.#")            # a checkerboard: 8 components, 1 with diagonals
    stripes = _grid("#...# #...# #...# #####")         # a U shape: 1 component
    plateau = np.array([[0.0, 0.5, 0.0], [0.5, 1.0, 0.5], [0.0, 0.5, 0.0]])  # joined only at the level
    return [
        (corners, 0.5, "a checkerboard (cells meeting only at corners)"),
        (stripes, 0.5, "a U-shaped valley"),
        (plateau, 0.5, "four wells joined exactly at the level"),
        (double_well, 0.5, "the double well (x^2 - 1)^2 + y^2 below 0.5"),
        (double_well, 1.5, "the double well (x^2 - 1)^2 + y^2 below 1.5"),
        (rng.standard_normal((12, 15)), 0.0, "a random 12 x 15 field at level 0"),
        (rng.standard_normal((9, 9)), -0.3, "a random 9 x 9 field at level -0.3"),
        (np.ones((4, 5)), 0.0, "a grid entirely above the level (no components)"),
    ]


def _as_count(got):
    if isinstance(got, (bool, np.bool_)):
        return None
    try:
        value = int(got)
    except (TypeError, ValueError):
        return None
    return value if value == got else None


def check_component_count(count_fn) -> ExerciseResult:
    """Check ``count_fn(values, level) -> int``: the face-connected components of ``{values <= level}``.

    ``values`` is a 2-D float64 numpy array. The answer is compared with a breadth-first search over
    several grids and levels: a checkerboard (diagonal contacts only), wells joined exactly at the level
    (``<=`` against ``<``), the double well :math:`(x^2-1)^2 + y^2` at two levels (2 then 1 component),
    random fields and an empty sublevel set. A wrong count is diagnosed against the usual mistakes.
    ``TypeError`` if ``count_fn`` is not a function.
    """
    require_function(count_fn, "count_fn")
    cases = _cases()
    for values, level, what in cases:
        got, failure = call_answer(count_fn, (values.copy(), level), f"on {what}")
        if failure is not None:
            return failure
        count = _as_count(got)
        expected = _reference(values, level)
        if count is None:
            return ExerciseResult(False, f"on {what}: expected an integer count ({expected}), got {got!r}.")
        if count == expected:
            continue
        hint = next((h for mistake, h in _MISTAKES if mistake(values, level) == count), None)
        message = f"on {what} at level {level:g}: expected {expected} component(s), got {count}."
        return ExerciseResult(False, message + (f" It looks as if {hint}" if hint else
                              " Label the cells with values <= level and join face neighbours only."))
    return ExerciseResult(True, f"your counts agree with a breadth-first search on all {len(cases)} grids "
                                "(diagonal contacts, cells exactly at the level, the double well, random fields).")
