"""Training (build side, torch): data sets, transforms, losses and the training loop."""
