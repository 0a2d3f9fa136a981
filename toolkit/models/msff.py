"""Multi-scale feature fusion (the ODConv seed) and the traffic-sign net that combines it with ODConv.

``MultiScaleFeatureFusion``: parallel 1x1, 3x3, 5x5 and 7x7 convolutions ('same' padding) on one
input, summed.  Because the four branches are linear and summed, they equal one 7x7 convolution with
zero-padded kernels and summed biases; ``edgecv.exporters.passes.msff`` folds them at export.

``odconv_msff_net``: the seed describes its traffic-sign classifier (GTSRB, 43 classes) as dynamic
convolution + multi-scale fusion + adaptive loss but shows no full listing; this is our
reconstruction of it: stem conv -> MSFF block -> two ODConv stages (kernel_num 4) -> GAP -> FC.
"""
import torch
from torch import nn

from edgecv.models.odconv import ODConv2d, infer_odconv_args
from edgecv.models.registry import PretrainedCfg, register_model


class MultiScaleFeatureFusion(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv1x1 = nn.Conv2d(in_channels, out_channels, kernel_size=1)
        self.conv3x3 = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
        self.conv5x5 = nn.Conv2d(in_channels, out_channels, kernel_size=5, padding=2)
        self.conv7x7 = nn.Conv2d(in_channels, out_channels, kernel_size=7, padding=3)

    def forward(self, x):
        return self.conv1x1(x) + self.conv3x3(x) + self.conv5x5(x) + self.conv7x7(x)


class MSFFNet(nn.Module):
    """A small classifier built around one MSFF block (the registry's ``msff`` entry)."""

    def __init__(self, num_classes=10, in_chans=3, width=32):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_chans, width, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        self.msff = MultiScaleFeatureFusion(width, width * 2)
        self.post = nn.Sequential(nn.BatchNorm2d(width * 2), nn.ReLU(inplace=True),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(width * 2, num_classes)

    def forward(self, x):
        return self.fc(self.post(self.msff(self.stem(x))))


def _od_stage(cin, cout, kernel_num):
    return nn.Sequential(ODConv2d(cin, cout, 3, stride=1, padding=1, kernel_num=kernel_num),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True), nn.MaxPool2d(2))


class ODConvMSFFNet(nn.Module):
    def __init__(self, num_classes=43, in_chans=3, width=32, kernel_num=4, dropout=0.3):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_chans, width, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        self.msff = MultiScaleFeatureFusion(width, width * 2)
        self.msff_act = nn.Sequential(nn.BatchNorm2d(width * 2), nn.ReLU(inplace=True), nn.MaxPool2d(2))
        self.stage1 = _od_stage(width * 2, width * 4, kernel_num)
        self.stage2 = _od_stage(width * 4, width * 8, kernel_num)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(width * 8, num_classes)

    def forward(self, x):
        x = self.msff_act(self.msff(self.stem(x)))
        x = self.stage2(self.stage1(x))
        return self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))


_GTSRB = PretrainedCfg(input_size=(48, 48), resize=None, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5),
                       num_classes=43, test_input_size=(32, 32))


@register_model(cfg=PretrainedCfg(input_size=(32, 32), resize=None, mean=(0.5, 0.5, 0.5),
                                  std=(0.5, 0.5, 0.5), num_classes=10))
def msff(*, num_classes=10, **kwargs):
    return MSFFNet(num_classes=num_classes, **kwargs)


@register_model(cfg=_GTSRB, infer=infer_odconv_args)
def odconv_msff_net(*, num_classes=43, **kwargs):
    return ODConvMSFFNet(num_classes=num_classes, **kwargs)
