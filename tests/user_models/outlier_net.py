"""A network int8 cannot represent in one place: one channel is scaled by 1000 before a 1x1 conv that
ignores it, so quantizing that tensor to 8 bits zeroes the channels that carry the signal."""
import torch
from torch import nn


class OutlierNet(nn.Module):
    def __init__(self, num_classes=4):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        scale = torch.ones(1, 8, 1, 1)
        scale[0, 0] = 1000.0
        self.register_buffer("scale", scale)
        self.conv2 = nn.Conv2d(8, 16, 1)
        with torch.no_grad():
            self.conv2.weight[:, 0] = 0.0
        self.fc = nn.Linear(16, num_classes)

    def forward(self, x):
        z = torch.relu(self.conv1(x)) * self.scale
        z = torch.relu(self.conv2(z))
        return self.fc(z.mean((2, 3)))
