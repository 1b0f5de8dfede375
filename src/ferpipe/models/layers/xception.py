"""The pieces of the Xception family on 48x48 grey faces (xception_reg, mini_xception, tiny_xception).

All three are stacks of the same pieces (depthwise-separable convolutions in residual
blocks), so one builder makes them from a short description.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class SeparableConv(nn.Sequential):
    """Depthwise 3x3 then pointwise 1x1 convolution, followed by batch norm."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(
            nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False),
            nn.Conv2d(cin, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        )


class StridedPointwise(nn.Conv2d):
    """A 1x1 stride-2 convolution computed as every second pixel, then a 1x1 stride-1 convolution:
    the same weights and the same sums, in a form torch trains in channels-last on CPU (a strided
    1x1 convolution's weight gradient segfaults there, see ``device.channels_last_on``), so the
    Xception family runs the convolution kernels every other model runs."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(cin, cout, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x[:, :, ::2, ::2])


class DownBlock(nn.Module):
    """Two separable convs and a stride-2 max-pool, added to a 1x1 stride-2 projection."""

    def __init__(self, cin: int, cout: int, relu_first: bool, widths: Sequence[int] | None = None) -> None:
        super().__init__()
        mid = (widths or (cout, cout))[0]
        self.body = nn.Sequential(
            nn.ReLU() if relu_first else nn.Identity(),
            SeparableConv(cin, mid),
            nn.ReLU(),
            SeparableConv(mid, cout),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        self.skip = nn.Sequential(StridedPointwise(cin, cout), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.skip(x)


class MiddleBlock(nn.Module):
    """Three ReLU-separable-conv steps at constant width; dropout before the residual add."""

    def __init__(self, width: int, dropout: float) -> None:
        super().__init__()
        steps: list[nn.Module] = []
        for _ in range(3):
            steps += [nn.ReLU(), SeparableConv(width, width)]
        self.body = nn.Sequential(*steps, nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def _conv_bn_relu(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]


class Xception(nn.Module):
    """Entry convs, residual down blocks, a middle flow, and a dense or convolutional head."""

    def __init__(
        self,
        num_classes: int,
        in_chans: int,
        entry: Sequence[int],
        blocks: Sequence[int],
        *,
        entry_stride: int = 1,
        middle: int = 0,
        dropout: float = 0.0,
        exit_widths: Sequence[int] = (),
        conv_head: bool = False,
        classifier_l2: float = 0.0,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = in_chans
        for i, width in enumerate(entry):
            layers += _conv_bn_relu(cin, width, entry_stride if i == 0 else 1)
            cin = width
        for i, width in enumerate(blocks):
            layers.append(DownBlock(cin, width, relu_first=i > 0))
            cin = width
        layers += [MiddleBlock(cin, dropout) for _ in range(middle)]
        if exit_widths:  # Xception's exit flow: a down block, then two wide separable convs
            first, second, *wide = exit_widths
            layers.append(DownBlock(cin, second, relu_first=True, widths=(first, second)))
            cin = second
            for width in wide:
                layers += [SeparableConv(cin, width), nn.ReLU()]
                cin = width
        self.features = nn.Sequential(*layers)
        self.classifier_l2 = classifier_l2
        if conv_head:  # mini-Xception: a conv to one channel per class, then global average pooling
            self.classifier = nn.Conv2d(cin, num_classes, 3, padding=1)
            self.head = nn.Sequential(self.classifier, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        else:
            self.classifier = nn.Linear(cin, num_classes)
            self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), self.classifier)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def penalty(self) -> torch.Tensor:
        """Keras-style L2 on the classifier weights, added to the training loss."""
        return self.classifier_l2 * self.classifier.weight.pow(2).sum()
