"""Swin's shifted-window attention, traced into fewer data movements (torchvision's swin_t/s/b).

torchvision's ``shifted_window_attention`` pads, rolls (two Slice+Concat pairs per direction in
ONNX), partitions windows with a 6-D Transpose, and undoes all of it after the projection; the
shift mask is rebuilt from scratch.  With the feature map's height and width fixed at export (only
the batch is dynamic), every one of those steps is a fixed permutation of the H*W tokens.  While
the model is traced this module's version is used instead:

- the roll and the window partition are one ``Gather`` of the tokens with a constant index, and
  the window reverse and the roll back are one ``Gather`` with the inverse index;
- a pad of zero width is not emitted at all (a no-op ``Pad`` still costs a copy per block);
- the shift mask and the relative position bias are one constant added once.

Exact: the same products and sums in the same order, only where tensors are read from changes
(the mask, 0 or -100, is added to the bias before the scores instead of after: entries it
masks differ by float rounding of a term whose softmax weight is below 1e-43).  Models outside
what this covers (training mode, Swin V2's cosine attention, a traced symbolic height/width) use
the original function.  ``_patch_merging_pad`` likewise skips its zero pad.
"""
from __future__ import annotations

import contextlib

import numpy as np
import torch
import torch.nn.functional as F


def token_order(pad_h: int, pad_w: int, win_h: int, win_w: int, shift_h: int, shift_w: int):
    """Index of the (rolled) token each window position reads, and its inverse (int64 arrays).

    Plain numpy: computed while tracing, it must enter the graph as a constant, not as traced ops.
    """
    rows = (np.arange(pad_h) + shift_h) % pad_h
    cols = (np.arange(pad_w) + shift_w) % pad_w
    grid = rows[:, None] * pad_w + cols[None, :]  # rolled[i, j] = x[rows[i], cols[j]]
    grid = grid.reshape(pad_h // win_h, win_h, pad_w // win_w, win_w).transpose(0, 2, 1, 3).reshape(-1)
    return grid.astype(np.int64), np.argsort(grid).astype(np.int64)


def shift_mask(pad_h: int, pad_w: int, win_h: int, win_w: int, shift_h: int, shift_w: int):
    """torchvision's shift mask, (windows, tokens, tokens): 0 within a region, -100 across."""
    region = np.zeros((pad_h, pad_w), np.float32)
    count = 0
    for h in ((0, -win_h), (-win_h, -shift_h), (-shift_h, None)):
        for w in ((0, -win_w), (-win_w, -shift_w), (-shift_w, None)):
            region[h[0]:h[1], w[0]:w[1]] = count
            count += 1
    region = region.reshape(pad_h // win_h, win_h, pad_w // win_w, win_w).transpose(0, 2, 1, 3)
    region = region.reshape(-1, win_h * win_w)
    diff = region[:, None, :] - region[:, :, None]
    return np.where(diff != 0, np.float32(-100.0), np.float32(0.0))


def window_attention(original):
    """A drop-in for torchvision's ``shifted_window_attention`` (same signature)."""

    def attend(input, qkv_weight, proj_weight, relative_position_bias, window_size, num_heads, shift_size,
               attention_dropout=0.0, dropout=0.0, qkv_bias=None, proj_bias=None, logit_scale=None,
               training=True):
        B, H, W, C = input.shape
        if training or logit_scale is not None or not all(isinstance(d, int) for d in (H, W, C)):
            return original(input, qkv_weight, proj_weight, relative_position_bias, window_size, num_heads,
                            shift_size, attention_dropout, dropout, qkv_bias, proj_bias, logit_scale, training)
        wh, ww = window_size
        pad_b, pad_r = (wh - H % wh) % wh, (ww - W % ww) % ww
        x = F.pad(input, (0, 0, 0, pad_r, 0, pad_b)) if pad_b or pad_r else input
        ph, pw = H + pad_b, W + pad_r
        sh = 0 if wh >= ph else shift_size[0]
        sw = 0 if ww >= pw else shift_size[1]
        order, inverse = (torch.from_numpy(a) for a in token_order(ph, pw, wh, ww, sh, sw))
        windows, tokens, heads = (ph // wh) * (pw // ww), wh * ww, num_heads

        x = torch.index_select(x.reshape(B, ph * pw, C), 1, order).reshape(B * windows, tokens, C)
        qkv = F.linear(x, qkv_weight, qkv_bias).reshape(B * windows, tokens, 3, heads, C // heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        attn = (q * (C // heads) ** -0.5).matmul(k.transpose(-2, -1))
        if sh or sw:
            mask = torch.from_numpy(shift_mask(ph, pw, wh, ww, sh, sw)).to(attn.dtype)
            bias = relative_position_bias + mask.unsqueeze(1)
            attn = (attn.view(B, windows, heads, tokens, tokens) + bias).view(B * windows, heads, tokens, tokens)
        else:
            attn = attn + relative_position_bias
        attn = F.softmax(attn, dim=-1)
        x = attn.matmul(v).transpose(1, 2).reshape(B * windows, tokens, C)
        x = F.linear(x, proj_weight, proj_bias)
        x = torch.index_select(x.reshape(B, ph * pw, C), 1, inverse).reshape(B, ph, pw, C)
        return x[:, :H, :W, :].contiguous() if pad_b or pad_r else x

    return attend


def merging_pad(original):
    def pad(x):
        H, W = x.shape[-3:-1]
        if isinstance(H, int) and isinstance(W, int) and H % 2 == 0 and W % 2 == 0:
            return torch.cat([x[..., 0::2, 0::2, :], x[..., 1::2, 0::2, :],
                              x[..., 0::2, 1::2, :], x[..., 1::2, 1::2, :]], -1)
        return original(x)

    return pad


@contextlib.contextmanager
def swin_windows():
    """Active while tracing: torchvision Swin blocks trace as fixed token permutations."""
    try:
        from torchvision.models import swin_transformer as tv
    except ImportError:
        yield
        return
    saved = tv.shifted_window_attention, tv._patch_merging_pad
    tv.shifted_window_attention = window_attention(saved[0])
    tv._patch_merging_pad = merging_pad(saved[1])
    try:
        yield
    finally:
        tv.shifted_window_attention, tv._patch_merging_pad = saved
