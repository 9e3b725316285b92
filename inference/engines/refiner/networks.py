"""The refiner's networks: a small epsilon-predicting UNet and its DDIM noise schedule.

Torch and diffusers are imported inside the functions, so importing this module is cheap.
"""
from __future__ import annotations

from collections.abc import Sequence

from core.limits import MAX_ENGINE_SIDE

from ..errors import RefinerError

# Channels per UNet level. Four levels take 64 px down to 8 px, where one self-attention
# block is cheap; 16 channels at full resolution keep a training step on one CPU core under a second.
DEFAULT_CHANNELS = (16, 32, 64, 96)
NORM_GROUPS = 8
TRAIN_TIMESTEPS = 1000


def build_unet(
    resolution: int = 64,                               # square input side in pixels
    channels: Sequence[int] = DEFAULT_CHANNELS,         # output channels of each level
    layers_per_block: int = 1,                          # ResNet blocks per level
    attention: bool = True,                             # self-attention at the lowest level
):
    """A small epsilon-predicting ``UNet2DModel`` (1.77 M parameters with the defaults)."""
    from diffusers import UNet2DModel

    channels = tuple(int(c) for c in channels)
    check_architecture(resolution, channels, layers_per_block)
    levels = len(channels)
    down = ["DownBlock2D"] * levels
    up = ["UpBlock2D"] * levels
    if attention:
        down[-1] = "AttnDownBlock2D"
        up[0] = "AttnUpBlock2D"
    return UNet2DModel(
        sample_size=resolution,
        in_channels=3,
        out_channels=3,
        block_out_channels=channels,
        down_block_types=tuple(down),
        up_block_types=tuple(up),
        layers_per_block=layers_per_block,
        norm_num_groups=NORM_GROUPS,
        attention_head_dim=min(32, channels[-1]),
        add_attention=attention,  # the mid block's attention too
    )


def check_architecture(resolution: int, channels: tuple[int, ...], layers_per_block: int) -> None:
    if not channels or any(c <= 0 or c % NORM_GROUPS for c in channels):
        raise RefinerError("bad_options", f"channels must be positive multiples of {NORM_GROUPS}, got {channels}")
    if layers_per_block < 1:
        raise RefinerError("bad_options", "layers_per_block must be at least 1")
    if resolution < 8 or resolution % (2 ** (len(channels) - 1)):
        raise RefinerError(
            "bad_options",
            f"resolution {resolution} must be at least 8 and divisible by {2 ** (len(channels) - 1)} "
            f"for {len(channels)} levels",
        )
    if resolution > MAX_ENGINE_SIDE:
        raise RefinerError("bad_options", f"resolution {resolution} is over the limit of {MAX_ENGINE_SIDE} px")


def build_scheduler():
    """DDIM over 1,000 training timesteps.

    ``trailing`` spacing makes the first of any number of inference steps t = 999, so
    strength 1 really starts from noise and a strength maps to a timestep without offset;
    clipping the predicted clean image keeps it in [-1, 1].
    """
    from diffusers import DDIMScheduler

    return DDIMScheduler(
        num_train_timesteps=TRAIN_TIMESTEPS,
        beta_schedule="linear",
        beta_start=0.0001,
        beta_end=0.02,
        prediction_type="epsilon",
        clip_sample=True,
        set_alpha_to_one=True,
        timestep_spacing="trailing",
    )


def count_parameters(module) -> int:
    return sum(p.numel() for p in module.parameters())
