"""AdaptiveLoss of the ODConv seed: focal-style loss with alpha, gamma and class balancing.

The seed's listing stops after the cross-entropy line, so the rest follows the two papers its
parameters come from: focal loss (Lin et al. 2017, ``alpha * (1 - p_t)^gamma * CE``) and
class-balanced weighting by the effective number of samples (Cui et al. 2019,
``w_c = (1 - beta) / (1 - beta^n_c)``, normalised to mean 1) with ``beta = balance_factor``.
Without class counts the class weights are all 1.
"""
import torch
import torch.nn.functional as F
from torch import nn


class AdaptiveLoss(nn.Module):
    def __init__(self, alpha=0.25, gamma=2.0, balance_factor=0.999, class_counts=None):
        super().__init__()
        self.alpha = alpha
        self.gamma = gamma
        self.balance_factor = balance_factor
        weights = None
        if class_counts is not None:
            counts = torch.as_tensor(class_counts, dtype=torch.float32).clamp(min=1)
            effective = (1.0 - torch.pow(balance_factor, counts)) / (1.0 - balance_factor)
            weights = 1.0 / effective
            weights = weights * len(weights) / weights.sum()
        self.register_buffer("class_weights", weights, persistent=False)

    def forward(self, logits, targets):
        ce = F.cross_entropy(logits, targets, reduction="none")
        p_t = torch.exp(-ce)
        loss = self.alpha * (1.0 - p_t).pow(self.gamma) * ce
        if self.class_weights is not None:
            loss = loss * self.class_weights[targets]
        return loss.mean()
