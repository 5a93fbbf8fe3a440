"""lecturelib: the small PyTorch package behind the course book *Training Deep Networks*.

Modules are imported explicitly, e.g. ``from lecturelib import data, models, train``.
Imports point one way: ``device, storage, data`` -> ``models`` -> ``train, cache`` ->
analysis modules -> ``plotting, widgets, exercises``.
"""

__version__ = "0.1.0"
