"""``edgecv app``: a desktop classifier for any model file edgecv runs (deploy side, Qt for Python).

PySide6 (LGPL) from the ``app`` extra.  Everything it shows comes from the same deploy code as
``edgecv run``: ``edgecv.runtimes.load``, ``classify_paths`` and the capture ``Source``.
"""
