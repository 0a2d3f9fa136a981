"""Shallow + deep feature-fusion CNN (the seed's cascaded CNN for handwritten digits).

One image feeds both branches.  Shallow: two conv+pool stages -> dense 128.  Deep: three conv+pool
stages -> dense 256.  The two feature vectors are concatenated and classified by two dense layers.
(The seed's Keras code feeds the same image twice through two inputs; one input is equivalent.)
"""
import torch
from torch import nn

from edgecv.models.registry import PretrainedCfg, register_model


def _conv_pool(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2))


class FusionCNN(nn.Module):
    def __init__(self, num_classes=10, in_chans=1, img_size=28, hidden=256, dropout=0.25):
        super().__init__()
        h, w = (img_size, img_size) if isinstance(img_size, int) else img_size
        self.shallow = nn.Sequential(_conv_pool(in_chans, 32), _conv_pool(32, 64), nn.Flatten(),
                                     nn.Linear(64 * (h // 4) * (w // 4), 128), nn.ReLU(inplace=True))
        self.deep = nn.Sequential(_conv_pool(in_chans, 32), _conv_pool(32, 64), _conv_pool(64, 128),
                                  nn.Flatten(), nn.Linear(128 * (h // 8) * (w // 8), 256),
                                  nn.ReLU(inplace=True))
        self.head = nn.Sequential(nn.Linear(128 + 256, hidden), nn.ReLU(inplace=True),
                                  nn.Dropout(dropout), nn.Linear(hidden, num_classes))

    def forward(self, x):
        return self.head(torch.cat([self.shallow(x), self.deep(x)], dim=1))


@register_model(cfg=PretrainedCfg(input_size=(28, 28), resize=None, mean=(0.5,), std=(0.5,),
                                  channel_order="GRAY", num_classes=10,
                                  labels=tuple(str(i) for i in range(10))))
def fusion_cnn(*, num_classes=10, **kwargs):
    return FusionCNN(num_classes=num_classes, **kwargs)
