"""Attention with more than 4 dimensions, which torch's ONNX translation of
``scaled_dot_product_attention`` rejects (``only 4D query, key, and value are supported``; seen with
timm's twins_svt and nest, which call it on (B, windows, heads, tokens, dim) tensors).

While the model is traced, ``F.scaled_dot_product_attention`` is wrapped so that calls with
rank > 4 fold every leading dimension into one batch dimension, call the original 4-D op, and
unfold the result.  Exact: attention is independent per leading index.
"""
from __future__ import annotations

import contextlib

import torch.nn.functional as F

_ORIGINAL = F.scaled_dot_product_attention


def sdpa_fold_leading(query, key, value, attn_mask=None, *args, **kwargs):
    if query.dim() <= 4:
        return _ORIGINAL(query, key, value, attn_mask, *args, **kwargs)
    lead = query.shape[:-3]
    q = query.reshape(-1, *query.shape[-3:])
    k = key.expand(*lead, *key.shape[-3:]).reshape(-1, *key.shape[-3:])
    v = value.expand(*lead, *value.shape[-3:]).reshape(-1, *value.shape[-3:])
    if attn_mask is not None:
        full = (*lead, query.shape[-3], query.shape[-2], key.shape[-2])
        attn_mask = attn_mask.expand(full).reshape(-1, *full[-3:])
    out = _ORIGINAL(q, k, v, attn_mask, *args, **kwargs)
    return out.reshape(*lead, *out.shape[-3:])


@contextlib.contextmanager
def fold_sdpa_batch_dims():
    """Active while tracing: 5-D+ attention becomes 4-D attention on a folded batch."""
    saved = F.scaled_dot_product_attention
    F.scaled_dot_product_attention = sdpa_fold_leading
    try:
        yield
    finally:
        F.scaled_dot_product_attention = saved
