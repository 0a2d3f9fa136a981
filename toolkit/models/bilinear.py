"""Bilinear CNN (Lin, RoyChowdhury, Maji, ICCV 2015).

For conv feature maps A (C_a x HW) and B (C_b x HW) of the two streams at every location, the
bilinear feature is the outer product pooled over all locations, ``A B^T / HW`` (C_a x C_b),
flattened, passed through the signed square root ``sign(x) sqrt(|x|)`` and L2-normalised, then
classified by one linear layer.  With one shared trunk (``two_stream=False``, the B-CNN [D,D]
setting) A = B.  The seed's ``nn.Bilinear`` on 4-D maps computes something else and is not used.
"""
import torch
import torch.nn.functional as F
from torch import nn

from edgecv.models.registry import PretrainedCfg, register_model


class BilinearPool(nn.Module):
    """Outer product pooled over locations, signed sqrt, L2 norm."""

    def __init__(self, eps: float = 1e-10):
        super().__init__()
        self.eps = eps

    def forward(self, a, b):
        n, ca, h, w = a.shape
        cb = b.shape[1]
        a = a.reshape(n, ca, h * w)
        b = b.reshape(n, cb, h * w)
        x = torch.bmm(a, b.transpose(1, 2)) / (h * w)  # (N, Ca, Cb)
        x = x.reshape(n, ca * cb)
        x = torch.sign(x) * torch.sqrt(torch.abs(x) + self.eps)
        return F.normalize(x, p=2, dim=1)


class BilinearCNN(nn.Module):
    def __init__(self, stream_a: nn.Module, channels_a: int, num_classes: int,
                 stream_b: nn.Module | None = None, channels_b: int | None = None, dropout=0.0):
        super().__init__()
        self.stream_a = stream_a
        self.stream_b = stream_b  # None: one shared trunk
        self.pool = BilinearPool()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(channels_a * (channels_b or channels_a), num_classes)

    def forward(self, x):
        a = self.stream_a(x)
        b = a if self.stream_b is None else self.stream_b(x)
        if b.shape[-2:] != a.shape[-2:]:
            b = F.interpolate(b, size=a.shape[-2:], mode="bilinear", align_corners=False)
        return self.fc(self.dropout(self.pool(a, b)))


def _resnet34_trunk():
    import torchvision

    m = torchvision.models.resnet34(weights=None)
    return nn.Sequential(m.conv1, m.bn1, m.relu, m.maxpool, m.layer1, m.layer2, m.layer3, m.layer4)


def _vgg16_trunk():
    import torchvision

    # conv5_3 + ReLU, without the last max-pool, as in the paper.
    return torchvision.models.vgg16(weights=None).features[:-1]


_CFG = PretrainedCfg(input_size=(448, 448), resize=512, test_input_size=(64, 64))


@register_model(cfg=_CFG)
def bilinear_resnet34(*, num_classes=1000, two_stream=False, dropout=0.0):
    b = _resnet34_trunk() if two_stream else None
    return BilinearCNN(_resnet34_trunk(), 512, num_classes, b, 512 if two_stream else None, dropout)


@register_model(cfg=_CFG)
def bilinear_vgg16(*, num_classes=1000, two_stream=False, dropout=0.0):
    b = _vgg16_trunk() if two_stream else None
    return BilinearCNN(_vgg16_trunk(), 512, num_classes, b, 512 if two_stream else None, dropout)
