"""lecturelib: the small PyTorch package behind the course book *Training Deep Networks*.

Modules are imported explicitly, e.g. ``from lecturelib import data, models, train``.
Each kind of code has one floor and imports point down only: ``_checks, device, storage`` ->
``data, params, losses`` -> ``models, norm`` -> ``train`` -> analysis (``backprop``, ``init``,
``landscape``, ``hessian``, ...) -> ``cache`` -> ``experiments.<chapter>`` -> ``plotting`` ->
``widgets.<chapter>, exercises.<chapter>`` (see CONTRIBUTING.md).
"""

__version__ = "0.1.0"
