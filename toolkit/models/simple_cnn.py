"""The CIFAR-10 CNN of the CNN tutorial seed, with its BatchNorm and Dropout variants.

conv(3->32, 3x3) -> ReLU -> maxpool/2 -> conv(32->64, 3x3) -> ReLU -> maxpool/2 -> fc(64*H/4*W/4 -> 128)
-> ReLU -> fc(128 -> classes).  The seed hard-codes 64*8*8 for 32x32 input; here the flatten size
follows ``img_size`` so the same network trains on 28x28 digits.
"""
import torch
from torch import nn

from edgecv.models.registry import PretrainedCfg, register_model


class SimpleCNN(nn.Module):
    def __init__(self, num_classes=10, in_chans=3, img_size=32, batchnorm=False, dropout=0.0):
        super().__init__()
        h, w = (img_size, img_size) if isinstance(img_size, int) else img_size
        self.conv1 = nn.Conv2d(in_chans, 32, kernel_size=3, stride=1, padding=1)
        self.bn1 = nn.BatchNorm2d(32) if batchnorm else nn.Identity()
        self.pool = nn.MaxPool2d(kernel_size=2, stride=2)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, stride=1, padding=1)
        self.bn2 = nn.BatchNorm2d(64) if batchnorm else nn.Identity()
        self.fc1 = nn.Linear(64 * (h // 4) * (w // 4), 128)
        self.dropout = nn.Dropout(p=dropout) if dropout > 0 else nn.Identity()
        self.fc2 = nn.Linear(128, num_classes)

    def forward(self, x):
        x = self.pool(torch.relu(self.bn1(self.conv1(x))))
        x = self.pool(torch.relu(self.bn2(self.conv2(x))))
        x = torch.flatten(x, 1)
        x = torch.relu(self.fc1(x))
        return self.fc2(self.dropout(x))


CIFAR_CFG = PretrainedCfg(input_size=(32, 32), resize=None, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5),
                          num_classes=10,
                          labels=("airplane", "automobile", "bird", "cat", "deer",
                                  "dog", "frog", "horse", "ship", "truck"))


@register_model(cfg=CIFAR_CFG)
def simple_cnn(*, num_classes=10, **kwargs):
    return SimpleCNN(num_classes=num_classes, **kwargs)


@register_model(cfg=CIFAR_CFG)
def simple_cnn_bn(*, num_classes=10, **kwargs):
    return SimpleCNN(num_classes=num_classes, batchnorm=True, **kwargs)


@register_model(cfg=CIFAR_CFG)
def simple_cnn_dropout(*, num_classes=10, dropout=0.5, **kwargs):
    return SimpleCNN(num_classes=num_classes, dropout=dropout, **kwargs)
