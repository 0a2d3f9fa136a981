"""torchvision's own transformer classes at test size: the code paths of vit_b_16 / swin_t (the
classes, their attention and the export passes) in a fraction of the tracing time."""
from torchvision.models import SwinTransformer, VisionTransformer


def tiny_vit(num_classes=10):
    return VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64,
                             num_classes=num_classes)


def tiny_swin(num_classes=10):
    return SwinTransformer(patch_size=[2, 2], embed_dim=24, depths=[2, 2], num_heads=[2, 4], window_size=[4, 4],
                           num_classes=num_classes, stochastic_depth_prob=0.0)
