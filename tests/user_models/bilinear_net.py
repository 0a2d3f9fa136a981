"""A user's own model file, outside the edgecv package: a small Bilinear CNN (Lin et al. 2015) as
the seed tutorial writes it (conv features, outer-product pooling, signed sqrt, L2 norm, FC)."""
import torch
import torch.nn.functional as F
from torch import nn


class BilinearCNN(nn.Module):
    def __init__(self, num_classes=200, width=16):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        self.fc = nn.Linear(width * width, num_classes)

    def forward(self, x):
        f = self.features(x)
        n, c, h, w = f.shape
        f = f.reshape(n, c, h * w)
        b = torch.bmm(f, f.transpose(1, 2)) / (h * w)
        b = b.reshape(n, c * c)
        b = torch.sign(b) * torch.sqrt(b.abs() + 1e-10)
        return self.fc(F.normalize(b, dim=1))


def bilinear_small(num_classes=5, **kwargs):
    return BilinearCNN(num_classes=num_classes, width=8, **kwargs)


class ProbNet(nn.Module):
    """Ends in softmax, and returns an auxiliary output: what edgecv must not softmax twice."""

    def __init__(self, num_classes=3):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=2)
        self.fc = nn.Linear(8 * 23 * 23, num_classes)  # only 48x48 inputs fit

    def forward(self, x):
        z = torch.relu(self.conv(x))
        return torch.softmax(self.fc(z.flatten(1)), dim=1), z.mean((2, 3))


def not_a_module(num_classes=2):
    return {"num_classes": num_classes}
