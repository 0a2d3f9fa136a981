"""Serving a model to other machines: ``edgecv serve`` (a Triton server through PyTriton)."""
