"""A tiny transformer-shaped classifier (no convolution): image rows are tokens, mixed by Linear
layers on 3-D tensors, so every weight but the head's sits in a MatMul, as in ViT / Swin."""
from torch import nn


class TokenMixer(nn.Module):
    def __init__(self, num_classes=10, rows=8, width=8, dim=64):
        super().__init__()
        self.embed = nn.Linear(width, dim)
        self.mix_tokens = nn.Linear(rows, rows)
        self.mlp = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        t = self.embed(x.mean(1))  # (B, rows, dim)
        t = t + self.mix_tokens(t.transpose(1, 2)).transpose(1, 2)
        t = t + self.mlp(t)
        return self.head(t.mean(1))
