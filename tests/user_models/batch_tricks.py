"""Model code as tutorials and papers write it: each model turns the batch size into a Python value
in forward(), the way real repositories do (the Swin tutorial's window_reverse, ``.item()`` on a
shape, an ``if`` on the batch, a view whose batch was computed from a shape).  Used by
tests/test_batch_fixed.py: edgecv must name the line, and still give a faithful file."""
import torch
from torch import nn


def window_partition(x, ws: int):
    B, H, W, C = x.shape
    x = x.view(B, H // ws, ws, W // ws, ws, C)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, ws, ws, C)


def window_reverse(windows, ws: int, H: int, W: int):
    B = int(windows.shape[0] / (H * W / ws / ws))
    x = windows.view(B, H // ws, W // ws, ws, ws, -1)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(B, H, W, -1)


class WindowNet(nn.Module):
    """The Swin tutorial's pattern: windows out and back, the batch recovered with int()."""

    def __init__(self, num_classes: int = 3, ws: int = 4):
        super().__init__()
        self.ws = ws
        self.embed = nn.Conv2d(3, 8, 2, stride=2)
        self.mix = nn.Linear(8, 8)
        self.head = nn.Linear(8, num_classes)

    def forward(self, x):
        x = self.embed(x).permute(0, 2, 3, 1)  # B H W C
        H, W = x.shape[1], x.shape[2]
        w = self.mix(window_partition(x, self.ws))
        x = window_reverse(w, self.ws, H, W)
        return self.head(x.mean((1, 2)))


class ItemNet(nn.Module):
    """``.item()`` of a shape-derived tensor, then a view with it."""

    def __init__(self, num_classes: int = 3):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.head = nn.Linear(12, num_classes)

    def forward(self, x):
        n = int((torch.ones(()) * x.shape[0]).item())
        return self.head(self.pool(x).view(n, -1))


class BatchIfNet(nn.Module):
    """A Python ``if`` on the batch size: batch statistics only when there is a batch."""

    def __init__(self, num_classes: int = 3):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(3, num_classes)

    def forward(self, x):
        f = self.pool(x).flatten(1)
        if x.shape[0] > 1:
            f = f - 0.5 * f.mean(0, keepdim=True)
        return self.head(f)


class TokenViewNet(nn.Module):
    """A batch computed from token counts, then ``view`` with ``-1`` absorbing the rest."""

    def __init__(self, num_classes: int = 3):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.head = nn.Linear(12, num_classes)

    def forward(self, x):
        tokens = self.pool(x).flatten(2).transpose(1, 2)  # B 4 C
        B = int(tokens.shape[0] * tokens.shape[1] / 4)
        return self.head(tokens.reshape(B, -1))


class CancellingNet(nn.Module):
    """Numerically unstable on purpose: two float32 sums of the same large numbers in different
    orders, subtracted (zero in exact arithmetic, rounding noise in float32), feed the logits."""

    def __init__(self, num_classes: int = 3):
        super().__init__()
        self.head = nn.Linear(1, num_classes)

    def forward(self, x):
        big = x * 1e6
        noise = big.sum((1, 2, 3)) - big.flip(3).transpose(2, 3).sum((1, 2, 3))
        return self.head(noise[:, None] * 1e-2)
