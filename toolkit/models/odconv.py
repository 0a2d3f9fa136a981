"""ODConv: Omni-Dimensional Dynamic Convolution (Li, Zhou, Yao, ICLR 2022) and OD-ResNet.

Parameter names and ``state_dict`` keys follow the official OSVAI/ODConv code, so weights trained
with it load unchanged: ``<conv>.weight`` is 5-D (kernel_num, out, in/groups, k, k) and the
attention lives under ``<conv>.attention.{fc,bn,channel_fc,filter_fc,spatial_fc,kernel_fc}``.

The eager forward is the upstream one (batch folded into conv groups), which is fast in PyTorch
but cannot be exported with a dynamic batch; ``edgecv.exporters.passes.odconv`` rewrites it.
"""
import torch
import torch.nn.functional as F
from torch import nn

from edgecv.models.registry import PretrainedCfg, register_model


class Attention(nn.Module):
    """Squeeze (GAP -> 1x1 conv -> BN -> ReLU) then four heads: channel, filter, spatial, kernel."""

    def __init__(self, in_planes, out_planes, kernel_size, groups=1, reduction=0.0625, kernel_num=4,
                 min_channel=16):
        super().__init__()
        hidden = max(int(in_planes * reduction), min_channel)
        self.kernel_size = kernel_size
        self.kernel_num = kernel_num
        self.temperature = 1.0
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Conv2d(in_planes, hidden, 1, bias=False)
        self.bn = nn.BatchNorm2d(hidden)
        self.relu = nn.ReLU(inplace=True)
        self.channel_fc = nn.Conv2d(hidden, in_planes, 1, bias=True)
        # Heads that would be constant are left out, exactly as upstream (they return 1.0).
        self.is_depthwise = in_planes == groups and in_planes == out_planes
        if not self.is_depthwise:
            self.filter_fc = nn.Conv2d(hidden, out_planes, 1, bias=True)
        if kernel_size > 1:
            self.spatial_fc = nn.Conv2d(hidden, kernel_size * kernel_size, 1, bias=True)
        if kernel_num > 1:
            self.kernel_fc = nn.Conv2d(hidden, kernel_num, 1, bias=True)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def update_temperature(self, temperature):
        self.temperature = temperature

    def forward(self, x):
        """Returns (channel (N,C,1,1), filter (N,O,1,1) | 1.0, spatial (N,1,1,1,k,k) | 1.0,
        kernel (N,K,1,1,1,1) | 1.0)."""
        n = x.shape[0]
        t = self.temperature
        z = self.relu(self.bn(self.fc(self.avgpool(x))))
        channel = torch.sigmoid(self.channel_fc(z).view(n, -1, 1, 1) / t)
        filt = 1.0 if self.is_depthwise else torch.sigmoid(self.filter_fc(z).view(n, -1, 1, 1) / t)
        spatial = 1.0
        if self.kernel_size > 1:
            k = self.kernel_size
            spatial = torch.sigmoid(self.spatial_fc(z).view(n, 1, 1, 1, k, k) / t)
        kernel = 1.0
        if self.kernel_num > 1:
            kernel = F.softmax(self.kernel_fc(z).view(n, -1, 1, 1, 1, 1) / t, dim=1)
        return channel, filt, spatial, kernel


class ODConv2d(nn.Module):
    def __init__(self, in_planes, out_planes, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 reduction=0.0625, kernel_num=4):
        super().__init__()
        self.in_planes = in_planes
        self.out_planes = out_planes
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
        self.kernel_num = kernel_num
        self.attention = Attention(in_planes, out_planes, kernel_size, groups=groups,
                                   reduction=reduction, kernel_num=kernel_num)
        self.weight = nn.Parameter(torch.empty(kernel_num, out_planes, in_planes // groups,
                                               kernel_size, kernel_size))
        for i in range(kernel_num):
            nn.init.kaiming_normal_(self.weight[i], mode="fan_out", nonlinearity="relu")

    def update_temperature(self, temperature):
        self.attention.update_temperature(temperature)

    def forward(self, x):
        channel, filt, spatial, kernel = self.attention(x)
        x = x * channel
        if self.kernel_size == 1 and self.kernel_num == 1:  # plain point-wise conv
            out = F.conv2d(x, self.weight.squeeze(0), None, self.stride, self.padding,
                           self.dilation, self.groups)
            return out * filt
        n, _, h, w = x.shape
        # Upstream formulation: per-sample kernels, batch folded into the conv groups.
        agg = (spatial * kernel * self.weight.unsqueeze(0)).sum(dim=1)
        agg = agg.reshape(-1, self.in_planes // self.groups, self.kernel_size, self.kernel_size)
        out = F.conv2d(x.reshape(1, -1, h, w), agg, None, self.stride, self.padding, self.dilation,
                       self.groups * n)
        out = out.view(n, self.out_planes, out.shape[-2], out.shape[-1])
        return out * filt


def _od3x3(cin, cout, stride=1, reduction=0.0625, kernel_num=1):
    return ODConv2d(cin, cout, 3, stride=stride, padding=1, reduction=reduction, kernel_num=kernel_num)


def _od1x1(cin, cout, stride=1, reduction=0.0625, kernel_num=1):
    return ODConv2d(cin, cout, 1, stride=stride, padding=0, reduction=reduction, kernel_num=kernel_num)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None, reduction=0.0625, kernel_num=1):
        super().__init__()
        self.conv1 = _od3x3(inplanes, planes, stride, reduction, kernel_num)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _od3x3(planes, planes, 1, reduction, kernel_num)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None, reduction=0.0625, kernel_num=1):
        super().__init__()
        self.conv1 = _od1x1(inplanes, planes, 1, reduction, kernel_num)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _od3x3(planes, planes, stride, reduction, kernel_num)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = _od1x1(planes, planes * 4, 1, reduction, kernel_num)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class ODResNet(nn.Module):
    def __init__(self, block, layers, num_classes=1000, dropout=0.1, reduction=0.0625, kernel_num=1,
                 in_chans=3):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(in_chans, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        for i, (planes, n) in enumerate(zip((64, 128, 256, 512), layers)):
            setattr(self, f"layer{i + 1}", self._make_layer(block, planes, n, 1 if i == 0 else 2,
                                                            reduction, kernel_num))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):  # upstream re-inits the attention convs too
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def _make_layer(self, block, planes, blocks, stride, reduction, kernel_num):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample, reduction, kernel_num)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes, 1, None, reduction, kernel_num) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def net_update_temperature(self, temperature):
        for m in self.modules():
            if isinstance(m, ODConv2d):
                m.update_temperature(temperature)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(self.dropout(x))


_CFG = PretrainedCfg(test_input_size=(32, 32))


def infer_odconv_args(sd: dict) -> dict:
    """``kernel_num`` is the first dimension of every 5-D ODConv weight (the paper's "4x" is 4)."""
    five = [v for k, v in sd.items() if k.endswith(".weight") and v.ndim == 5]
    return {"kernel_num": int(five[0].shape[0])} if five else {}


@register_model(cfg=_CFG, infer=infer_odconv_args)
def odconv_resnet18(*, num_classes=1000, **kwargs):
    return ODResNet(BasicBlock, [2, 2, 2, 2], num_classes=num_classes, **kwargs)


@register_model(cfg=_CFG, infer=infer_odconv_args)
def odconv_resnet34(*, num_classes=1000, **kwargs):
    return ODResNet(BasicBlock, [3, 4, 6, 3], num_classes=num_classes, **kwargs)


@register_model(cfg=_CFG, infer=infer_odconv_args)
def odconv_resnet50(*, num_classes=1000, **kwargs):
    return ODResNet(Bottleneck, [3, 4, 6, 3], num_classes=num_classes, **kwargs)
