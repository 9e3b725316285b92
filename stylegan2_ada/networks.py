"""StyleGAN2-ADA generator and discriminator in plain PyTorch.

Module, parameter and buffer names and shapes follow the layout of NVlabs'
stylegan2-ada-pytorch, so the state of one of their network pickles can be copied
into these classes one tensor at a time (see ``legacy.py``). Everything is written
with ordinary ``torch.nn.functional`` ops; there are no custom CUDA kernels.

Two additions to the original: ``tile=True`` on synthesis wraps every convolution
and resampling filter around the image borders, so the output repeats seamlessly;
and float16 blocks are used only on a CUDA device (a CPU always runs in float32).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LRELU_SLOPE = 0.2
ACTIVATION_GAINS = {"linear": 1.0, "lrelu": math.sqrt(2.0)}
NOISE_MODES = ("random", "const", "none")
ARCHITECTURES = ("orig", "skip", "resnet")
DEFAULT_RESAMPLE_TAPS = (1, 3, 3, 1)
# Up- and down-sampling convolutions look this many input pixels beyond their
# footprint; wrapping this margin around makes them periodic (tile mode).
_TILE_MARGIN = 2


# ----------------------------------------------------------------------------
# Low-level ops.


def check_resolution(resolution: int) -> None:
    if not isinstance(resolution, int) or resolution < 4 or resolution & (resolution - 1):
        raise ValueError(f"resolution must be a power of two and at least 4, got {resolution!r}")


def make_resample_filter(taps=DEFAULT_RESAMPLE_TAPS) -> torch.Tensor:
    """2-D low-pass filter normalised to unit DC gain (outer product of the taps)."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    if f.ndim == 1:
        f = torch.outer(f, f)
    return f / f.sum()


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


def bias_act(x, bias=None, activation="linear", gain=None, clamp=None):
    """Add a per-channel bias, apply the activation, scale by its gain, then clamp."""
    if bias is not None:
        x = x + bias.to(x.dtype).reshape([1, -1] + [1] * (x.ndim - 2))
    if activation == "lrelu":
        x = F.leaky_relu(x, LRELU_SLOPE)
    elif activation != "linear":
        raise ValueError(f"unknown activation {activation!r}")
    gain = ACTIVATION_GAINS[activation] if gain is None else gain
    if gain != 1:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


def upfirdn2d(x, f, up=1, down=1, pad=(0, 0, 0, 0), gain=1.0):
    """Zero-insert up-sample, pad (negative crops), convolve with ``f``, keep every ``down``-th pixel."""
    batch, channels, height, width = x.shape
    if up > 1:
        x = x.reshape(batch, channels, height, 1, width, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(batch, channels, height * up, width * up)
    x0, x1, y0, y1 = pad
    x = F.pad(x, [max(x0, 0), max(x1, 0), max(y0, 0), max(y1, 0)])
    x = x[:, :, max(-y0, 0):x.shape[2] - max(-y1, 0), max(-x0, 0):x.shape[3] - max(-x1, 0)]
    # conv2d correlates; flipping makes it a true convolution with f.
    kernel = (f * gain).to(x.dtype).flip([0, 1])
    kernel = kernel[None, None].repeat(channels, 1, 1, 1)
    x = F.conv2d(x, kernel, groups=channels)
    return x[:, :, ::down, ::down] if down > 1 else x


def _wrapped(op, x, scale, margin=_TILE_MARGIN):
    """Run a translation-equivariant ``op`` on a circularly padded copy and crop one period."""
    height, width = x.shape[2], x.shape[3]
    y = op(F.pad(x, [margin] * 4, mode="circular"))
    start = margin * scale
    return y[:, :, start:start + height * scale, start:start + width * scale]


def upsample2d(x, f, tile=False):
    taps = f.shape[-1]
    pad = ((taps + 1) // 2, (taps - 2) // 2) * 2
    op = lambda t: upfirdn2d(t, f, up=2, pad=pad, gain=4.0)  # noqa: E731
    return _wrapped(op, x, scale=2) if tile else op(x)


def downsample2d(x, f):
    taps = f.shape[-1]
    pad = ((taps - 1) // 2, (taps - 2) // 2) * 2
    return upfirdn2d(x, f, down=2, pad=pad)


def conv2d_resample(x, weight, f=None, up=1, down=1, padding=0, groups=1, tile=False):
    """Convolution with optional 2x FIR up- or down-sampling.

    Stride-1 and down-sampling layers correlate (as ``F.conv2d`` does); up-sampling
    layers convolve (transposed convolution with the unflipped kernel), which is the
    convention of the NVlabs layers and therefore of their trained weights.
    """
    out_channels, in_per_group, kh, kw = weight.shape
    if up == 1 and down == 1:
        if tile and padding:
            return F.conv2d(F.pad(x, [padding] * 4, mode="circular"), weight, groups=groups)
        return F.conv2d(x, weight, padding=padding, groups=groups)
    taps = f.shape[-1]
    if down > 1:
        pad = (padding + (taps - 1) // 2, padding + (taps - 2) // 2) * 2
        if kw == 1:
            return F.conv2d(upfirdn2d(x, f, down=down, pad=pad), weight, groups=groups)
        return F.conv2d(upfirdn2d(x, f, pad=pad), weight, stride=down, groups=groups)

    def upsampling_op(t):
        if kw == 1:
            pad = (padding + (taps + 1) // 2, padding + (taps - 2) // 2) * 2
            return upfirdn2d(F.conv2d(t, weight, groups=groups), f, up=up, pad=pad, gain=up * up)
        w = weight.reshape(groups, out_channels // groups, in_per_group, kh, kw).transpose(1, 2)
        w = w.reshape(groups * in_per_group, out_channels // groups, kh, kw)
        t = F.conv_transpose2d(t, w, stride=up, groups=groups)
        pad0 = padding + (taps + up - 1) // 2 - (kw - 1)
        pad1 = padding + (taps - up) // 2 - (kw - up)
        return upfirdn2d(t, f, pad=(pad0, pad1, pad0, pad1), gain=up * up)

    return _wrapped(upsampling_op, x, scale=up) if tile else upsampling_op(x)


def modulated_conv2d(
    x,                      # input [N, I, H, W]
    weight,                 # shared kernel [O, I, k, k]
    styles,                 # per-sample input-channel scales [N, I]
    noise=None,             # added after the convolution, before the bias
    up=1,                   # 1 or 2
    padding=0,              # padding of the convolution
    resample_filter=None,   # FIR filter for up-sampling
    demodulate=True,        # normalise each output channel to unit expected variance
    fused=True,             # one grouped convolution instead of scaling activations
    tile=False,             # wrap around the borders
):
    batch = x.shape[0]
    out_channels, in_channels, kh, kw = weight.shape
    if x.dtype == torch.float16 and demodulate:
        # Scale both factors towards 1 first so that float16 cannot overflow;
        # demodulation removes the scale again.
        weight_max = weight.norm(float("inf"), dim=[1, 2, 3], keepdim=True)
        weight = weight * (1 / math.sqrt(in_channels * kh * kw) / weight_max)
        styles = styles / styles.norm(float("inf"), dim=1, keepdim=True)

    w = weight.unsqueeze(0) * styles.reshape(batch, 1, -1, 1, 1)
    dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt() if demodulate else None

    if not fused:
        x = x * styles.to(x.dtype).reshape(batch, -1, 1, 1)
        x = conv2d_resample(x, weight.to(x.dtype), resample_filter, up=up, padding=padding, tile=tile)
        if demodulate:
            x = x * dcoefs.to(x.dtype).reshape(batch, -1, 1, 1)
        return x if noise is None else x + noise.to(x.dtype)

    if demodulate:
        w = w * dcoefs.reshape(batch, -1, 1, 1, 1)
    x = x.reshape(1, -1, *x.shape[2:])
    w = w.reshape(-1, in_channels, kh, kw).to(x.dtype)
    x = conv2d_resample(x, w, resample_filter, up=up, padding=padding, groups=batch, tile=tile)
    x = x.reshape(batch, -1, *x.shape[2:])
    return x if noise is None else x + noise.to(x.dtype)


def _compute_dtype(use_fp16: bool, device: torch.device, force_fp32: bool) -> torch.dtype:
    # Float16 only pays off (and is only well supported) on a GPU.
    return torch.float16 if use_fp16 and not force_fp32 and device.type == "cuda" else torch.float32


# ----------------------------------------------------------------------------
# Layers.


class FullyConnectedLayer(torch.nn.Module):
    def __init__(
        self,
        in_features,            # input width
        out_features,           # output width
        bias=True,              # add a learned bias
        activation="linear",    # 'linear' or 'lrelu'
        lr_multiplier=1.0,      # equalised learning-rate multiplier
        bias_init=0.0,          # initial bias value
    ):
        super().__init__()
        self.activation = activation
        self.weight = torch.nn.Parameter(torch.randn([out_features, in_features]) / lr_multiplier)
        self.bias = torch.nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x):
        w = self.weight.to(x.dtype) * self.weight_gain
        b = None if self.bias is None else self.bias.to(x.dtype) * self.bias_gain
        if self.activation == "linear" and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return bias_act(x.matmul(w.t()), b, activation=self.activation)


class Conv2dLayer(torch.nn.Module):
    def __init__(
        self,
        in_channels,                            # input channels
        out_channels,                           # output channels
        kernel_size,                            # square kernel width
        bias=True,                              # add a learned bias
        activation="linear",                    # 'linear' or 'lrelu'
        up=1,                                   # up-sampling factor (1 or 2)
        down=1,                                 # down-sampling factor (1 or 2)
        resample_filter=DEFAULT_RESAMPLE_TAPS,  # FIR taps for resampling
        conv_clamp=None,                        # clamp outputs to +-this, None = off
        channels_last=False,                    # accepted for layout compatibility, unused
        trainable=True,                         # False keeps weights as buffers (frozen)
    ):
        super().__init__()
        self.activation = activation
        self.up = up
        self.down = down
        self.conv_clamp = conv_clamp
        self.register_buffer("resample_filter", make_resample_filter(resample_filter))
        self.padding = kernel_size // 2
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size ** 2)
        self.act_gain = ACTIVATION_GAINS[activation]
        weight = torch.randn([out_channels, in_channels, kernel_size, kernel_size])
        bias_value = torch.zeros([out_channels]) if bias else None
        if trainable:
            self.weight = torch.nn.Parameter(weight)
            self.bias = torch.nn.Parameter(bias_value) if bias else None
        else:
            self.register_buffer("weight", weight)
            self.register_buffer("bias", bias_value)

    def forward(self, x, gain=1.0):
        w = (self.weight * self.weight_gain).to(x.dtype)
        x = conv2d_resample(x, w, self.resample_filter, up=self.up, down=self.down, padding=self.padding)
        clamp = None if self.conv_clamp is None else self.conv_clamp * gain
        return bias_act(x, self.bias, self.activation, gain=self.act_gain * gain, clamp=clamp)


class MappingNetwork(torch.nn.Module):
    def __init__(
        self,
        z_dim,                  # latent z width, 0 = no z
        c_dim,                  # class label width, 0 = unconditional
        w_dim,                  # intermediate latent w width
        num_ws,                 # copies of w to broadcast, None = return [N, w_dim]
        num_layers=8,           # fully connected layers
        embed_features=None,    # label embedding width, None = w_dim
        layer_features=None,    # hidden width, None = w_dim
        activation="lrelu",     # hidden activation
        lr_multiplier=0.01,     # learning-rate multiplier of the layers
        w_avg_beta=0.995,       # decay of the tracked w average, None = do not track
    ):
        super().__init__()
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.w_dim = w_dim
        self.num_ws = num_ws
        self.num_layers = num_layers
        self.w_avg_beta = w_avg_beta
        embed_features = (w_dim if embed_features is None else embed_features) if c_dim else 0
        layer_features = w_dim if layer_features is None else layer_features
        widths = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]
        if c_dim:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        for index in range(num_layers):
            layer = FullyConnectedLayer(widths[index], widths[index + 1], activation=activation,
                                        lr_multiplier=lr_multiplier)
            setattr(self, f"fc{index}", layer)
        if num_ws is not None and w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(self, z, c, truncation_psi=1.0, truncation_cutoff=None, skip_w_avg_update=False):
        parts = []
        if self.z_dim:
            if z is None or z.ndim != 2 or z.shape[1] != self.z_dim:
                shape = None if z is None else tuple(z.shape)
                raise ValueError(f"z must have shape [batch, {self.z_dim}], got {shape}")
            parts.append(normalize_2nd_moment(z.to(torch.float32)))
        if self.c_dim:
            if c is None or c.ndim != 2 or c.shape[1] != self.c_dim:
                shape = None if c is None else tuple(c.shape)
                raise ValueError(f"c must have shape [batch, {self.c_dim}], got {shape}")
            parts.append(normalize_2nd_moment(self.embed(c.to(torch.float32))))
        x = torch.cat(parts, dim=1)
        for index in range(self.num_layers):
            x = getattr(self, f"fc{index}")(x)
        x = x.to(torch.float32)     # w stays float32 under bfloat16 autocast (w_avg is float32)

        if self.w_avg_beta is not None and self.training and not skip_w_avg_update:
            self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))

        if self.num_ws is not None:
            x = x.unsqueeze(1).repeat([1, self.num_ws, 1])
        if truncation_psi != 1:
            if self.num_ws is None or truncation_cutoff is None:
                x = self.w_avg.lerp(x, truncation_psi)
            else:
                x = x.clone()
                x[:, :truncation_cutoff] = self.w_avg.lerp(x[:, :truncation_cutoff], truncation_psi)
        return x


class SynthesisLayer(torch.nn.Module):
    def __init__(
        self,
        in_channels,                            # input channels
        out_channels,                           # output channels
        w_dim,                                  # w width
        resolution,                             # output resolution
        kernel_size=3,                          # square kernel width
        up=1,                                   # up-sampling factor (1 or 2)
        use_noise=True,                         # add per-pixel noise
        activation="lrelu",                     # activation after the bias
        resample_filter=DEFAULT_RESAMPLE_TAPS,  # FIR taps for up-sampling
        conv_clamp=None,                        # clamp outputs to +-this, None = off
        channels_last=False,                    # accepted for layout compatibility, unused
    ):
        super().__init__()
        self.resolution = resolution
        self.up = up
        self.use_noise = use_noise
        self.activation = activation
        self.conv_clamp = conv_clamp
        self.register_buffer("resample_filter", make_resample_filter(resample_filter))
        self.padding = kernel_size // 2
        self.act_gain = ACTIVATION_GAINS[activation]
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = torch.nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        if use_noise:
            self.register_buffer("noise_const", torch.randn([resolution, resolution]))
            self.noise_strength = torch.nn.Parameter(torch.zeros([]))
        self.bias = torch.nn.Parameter(torch.zeros([out_channels]))

    def forward(self, x, w, noise_mode="random", fused_modconv=True, gain=1.0, tile=False):
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        styles = self.affine(w)
        noise = None
        if self.use_noise and noise_mode == "random":
            shape = [x.shape[0], 1, self.resolution, self.resolution]
            noise = torch.randn(shape, device=x.device) * self.noise_strength
        elif self.use_noise and noise_mode == "const":
            noise = self.noise_const * self.noise_strength
        x = modulated_conv2d(x, self.weight, styles, noise=noise, up=self.up, padding=self.padding,
                             resample_filter=self.resample_filter, fused=fused_modconv, tile=tile)
        clamp = None if self.conv_clamp is None else self.conv_clamp * gain
        return bias_act(x, self.bias, self.activation, gain=self.act_gain * gain, clamp=clamp)


class ToRGBLayer(torch.nn.Module):
    def __init__(
        self,
        in_channels,            # feature channels
        out_channels,           # image channels
        w_dim,                  # w width
        kernel_size=1,          # square kernel width
        conv_clamp=None,        # clamp outputs to +-this, None = off
        channels_last=False,    # accepted for layout compatibility, unused
    ):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.padding = kernel_size // 2
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = torch.nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = torch.nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size ** 2)

    def forward(self, x, w, fused_modconv=True, tile=False):
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False, padding=self.padding,
                             fused=fused_modconv, tile=tile)
        return bias_act(x, self.bias, clamp=self.conv_clamp)


# ----------------------------------------------------------------------------
# Generator.


class SynthesisBlock(torch.nn.Module):
    def __init__(
        self,
        in_channels,                            # input channels, 0 = first block (learned constant)
        out_channels,                           # output channels
        w_dim,                                  # w width
        resolution,                             # resolution of this block
        img_channels,                           # image channels
        is_last,                                # last block (always has toRGB)
        architecture="skip",                    # 'orig', 'skip' or 'resnet'
        resample_filter=DEFAULT_RESAMPLE_TAPS,  # FIR taps for up-sampling
        conv_clamp=None,                        # clamp conv outputs to +-this, None = off
        use_fp16=False,                         # float16 for this block (CUDA only)
        fp16_channels_last=False,               # accepted for layout compatibility, unused
        **layer_kwargs,                         # further SynthesisLayer arguments
    ):
        if architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {architecture!r}")
        super().__init__()
        self.in_channels = in_channels
        self.w_dim = w_dim
        self.resolution = resolution
        self.img_channels = img_channels
        self.is_last = is_last
        self.architecture = architecture
        self.use_fp16 = use_fp16
        self.register_buffer("resample_filter", make_resample_filter(resample_filter))
        self.num_conv = 0
        self.num_torgb = 0
        if in_channels == 0:
            self.const = torch.nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim=w_dim, resolution=resolution, up=2,
                                        resample_filter=resample_filter, conv_clamp=conv_clamp, **layer_kwargs)
            self.num_conv += 1
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim=w_dim, resolution=resolution,
                                    conv_clamp=conv_clamp, **layer_kwargs)
        self.num_conv += 1
        if is_last or architecture == "skip":
            self.torgb = ToRGBLayer(out_channels, img_channels, w_dim=w_dim, conv_clamp=conv_clamp)
            self.num_torgb += 1
        if in_channels != 0 and architecture == "resnet":
            self.skip = Conv2dLayer(in_channels, out_channels, kernel_size=1, bias=False, up=2,
                                    resample_filter=resample_filter)

    def forward(self, x, img, ws, force_fp32=False, fused_modconv=None, tile=False, **layer_kwargs):
        w_iter = iter(ws.unbind(dim=1))
        dtype = _compute_dtype(self.use_fp16, ws.device, force_fp32)
        if fused_modconv is None:
            fused_modconv = not self.training and (dtype == torch.float32 or ws.shape[0] == 1)
        layer_args = dict(fused_modconv=fused_modconv, tile=tile, **layer_kwargs)

        if self.in_channels == 0:
            x = self.const.to(dtype).unsqueeze(0).repeat([ws.shape[0], 1, 1, 1])
            x = self.conv1(x, next(w_iter), **layer_args)
        elif self.architecture == "resnet":
            x = x.to(dtype)
            if tile:
                y = _wrapped(lambda t: self.skip(t, gain=math.sqrt(0.5)), x, scale=2)
            else:
                y = self.skip(x, gain=math.sqrt(0.5))
            x = self.conv0(x, next(w_iter), **layer_args)
            x = self.conv1(x, next(w_iter), gain=math.sqrt(0.5), **layer_args)
            x = y + x
        else:
            x = x.to(dtype)
            x = self.conv0(x, next(w_iter), **layer_args)
            x = self.conv1(x, next(w_iter), **layer_args)

        if img is not None:
            img = upsample2d(img, self.resample_filter, tile=tile)
        if self.is_last or self.architecture == "skip":
            y = self.torgb(x, next(w_iter), fused_modconv=fused_modconv, tile=tile).to(torch.float32)
            img = y if img is None else img + y
        return x, img


class SynthesisNetwork(torch.nn.Module):
    def __init__(
        self,
        w_dim,                  # w width
        img_resolution,         # output resolution (power of two)
        img_channels,           # image channels
        channel_base=32768,     # channels at resolution r = min(channel_base // r, channel_max)
        channel_max=512,        # channel ceiling
        num_fp16_res=0,         # float16 for the N highest resolutions (CUDA only)
        **block_kwargs,         # further SynthesisBlock arguments
    ):
        check_resolution(img_resolution)
        super().__init__()
        self.w_dim = w_dim
        self.img_resolution = img_resolution
        self.img_resolution_log2 = int(math.log2(img_resolution))
        self.img_channels = img_channels
        self.block_resolutions = [2 ** i for i in range(2, self.img_resolution_log2 + 1)]
        channels = {res: min(channel_base // res, channel_max) for res in self.block_resolutions}
        fp16_resolution = max(2 ** (self.img_resolution_log2 + 1 - num_fp16_res), 8)
        self.num_ws = 0
        for res in self.block_resolutions:
            is_last = res == img_resolution
            block = SynthesisBlock(channels[res // 2] if res > 4 else 0, channels[res], w_dim=w_dim,
                                   resolution=res, img_channels=img_channels, is_last=is_last,
                                   use_fp16=res >= fp16_resolution, **block_kwargs)
            self.num_ws += block.num_conv + (block.num_torgb if is_last else 0)
            setattr(self, f"b{res}", block)

    def forward(self, ws, stop_at=None, **block_kwargs):
        """``stop_at``: return the image at that lower resolution, running only the blocks up to it
        (the 'skip' architecture draws an image at every block): a cheap preview of the layout."""
        if ws.ndim != 3 or ws.shape[1] != self.num_ws or ws.shape[2] != self.w_dim:
            raise ValueError(f"ws must have shape [batch, {self.num_ws}, {self.w_dim}], got {tuple(ws.shape)}")
        if stop_at is not None and (stop_at not in self.block_resolutions or
                                    (stop_at != self.img_resolution and self.b4.architecture != "skip")):
            raise ValueError(f"cannot stop at {stop_at} px: a 'skip' synthesis network stops at one of "
                             f"{self.block_resolutions}")
        ws = ws.to(torch.float32)
        x = img = None
        w_index = 0
        for res in self.block_resolutions:
            if stop_at is not None and res > stop_at:
                break
            block = getattr(self, f"b{res}")
            # Consecutive blocks share a w: a block's toRGB uses the next block's first w.
            block_ws = ws.narrow(1, w_index, block.num_conv + block.num_torgb)
            w_index += block.num_conv
            x, img = block(x, img, block_ws, **block_kwargs)
        return img


class Generator(torch.nn.Module):
    def __init__(
        self,
        z_dim,                  # latent z width
        c_dim,                  # class label width, 0 = unconditional
        w_dim,                  # intermediate latent w width
        img_resolution,         # output resolution (power of two)
        img_channels,           # image channels
        mapping_kwargs=None,    # MappingNetwork arguments
        synthesis_kwargs=None,  # SynthesisNetwork arguments
    ):
        super().__init__()
        mapping_kwargs = dict(mapping_kwargs or {})
        synthesis_kwargs = dict(synthesis_kwargs or {})
        self.init_kwargs = dict(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, img_resolution=img_resolution,
                                img_channels=img_channels, mapping_kwargs=dict(mapping_kwargs),
                                synthesis_kwargs=dict(synthesis_kwargs))
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.w_dim = w_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.synthesis = SynthesisNetwork(w_dim=w_dim, img_resolution=img_resolution,
                                          img_channels=img_channels, **synthesis_kwargs)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=self.num_ws, **mapping_kwargs)

    def forward(self, z, c, truncation_psi=1.0, truncation_cutoff=None, **synthesis_kwargs):
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, **synthesis_kwargs)


# ----------------------------------------------------------------------------
# Discriminator.


class DiscriminatorBlock(torch.nn.Module):
    def __init__(
        self,
        in_channels,                            # input channels, 0 = first block (reads the image)
        tmp_channels,                           # channels inside the block
        out_channels,                           # output channels
        resolution,                             # resolution of this block
        img_channels,                           # image channels
        first_layer_idx,                        # index of the first layer, for freezing
        architecture="resnet",                  # 'orig', 'skip' or 'resnet'
        activation="lrelu",                     # activation
        resample_filter=DEFAULT_RESAMPLE_TAPS,  # FIR taps for down-sampling
        conv_clamp=None,                        # clamp conv outputs to +-this, None = off
        use_fp16=False,                         # float16 for this block (CUDA only)
        fp16_channels_last=False,               # accepted for layout compatibility, unused
        freeze_layers=0,                        # layers below this index keep fixed weights
    ):
        if architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {architecture!r}")
        super().__init__()
        self.in_channels = in_channels
        self.resolution = resolution
        self.img_channels = img_channels
        self.first_layer_idx = first_layer_idx
        self.architecture = architecture
        self.use_fp16 = use_fp16
        self.register_buffer("resample_filter", make_resample_filter(resample_filter))
        self.num_layers = 0

        def next_trainable():
            trainable = first_layer_idx + self.num_layers >= freeze_layers
            self.num_layers += 1
            return trainable

        common = dict(activation=activation, conv_clamp=conv_clamp)
        if in_channels == 0 or architecture == "skip":
            self.fromrgb = Conv2dLayer(img_channels, tmp_channels, kernel_size=1, trainable=next_trainable(), **common)
        self.conv0 = Conv2dLayer(tmp_channels, tmp_channels, kernel_size=3, trainable=next_trainable(), **common)
        self.conv1 = Conv2dLayer(tmp_channels, out_channels, kernel_size=3, down=2, trainable=next_trainable(),
                                 resample_filter=resample_filter, **common)
        if architecture == "resnet":
            self.skip = Conv2dLayer(tmp_channels, out_channels, kernel_size=1, bias=False, down=2,
                                    trainable=next_trainable(), resample_filter=resample_filter)

    def forward(self, x, img, force_fp32=False):
        device = img.device if x is None else x.device
        dtype = _compute_dtype(self.use_fp16, device, force_fp32)
        if x is not None:
            x = x.to(dtype)
        if self.in_channels == 0 or self.architecture == "skip":
            img = img.to(dtype)
            y = self.fromrgb(img)
            x = y if x is None else x + y
            img = downsample2d(img, self.resample_filter) if self.architecture == "skip" else None
        if self.architecture == "resnet":
            y = self.skip(x, gain=math.sqrt(0.5))
            x = self.conv1(self.conv0(x), gain=math.sqrt(0.5))
            x = y + x
        else:
            x = self.conv1(self.conv0(x))
        return x, img


class MinibatchStdLayer(torch.nn.Module):
    def __init__(
        self,
        group_size,         # samples per group, None = whole batch
        num_channels=1,     # feature channels appended
    ):
        super().__init__()
        self.group_size = group_size
        self.num_channels = num_channels

    def forward(self, x):
        n, c, h, w = x.shape
        group = n if self.group_size is None else min(self.group_size, n)
        if n % group:
            raise ValueError(f"batch size {n} is not divisible by the minibatch-std group size {group}")
        f = self.num_channels
        y = x.reshape(group, -1, f, c // f, h, w)
        y = (y - y.mean(dim=0)).square().mean(dim=0)
        y = (y + 1e-8).sqrt().mean(dim=[2, 3, 4])
        y = y.reshape(-1, f, 1, 1).repeat(group, 1, h, w)
        return torch.cat([x, y], dim=1)


class DiscriminatorEpilogue(torch.nn.Module):
    def __init__(
        self,
        in_channels,            # input channels
        cmap_dim,               # width of the projected label, 0 = unconditional
        resolution,             # resolution (4)
        img_channels,           # image channels
        architecture="resnet",  # 'orig', 'skip' or 'resnet'
        mbstd_group_size=4,     # minibatch-std group size, None = whole batch
        mbstd_num_channels=1,   # minibatch-std channels, 0 = off
        activation="lrelu",     # activation
        conv_clamp=None,        # clamp conv outputs to +-this, None = off
    ):
        super().__init__()
        self.in_channels = in_channels
        self.cmap_dim = cmap_dim
        self.resolution = resolution
        self.img_channels = img_channels
        self.architecture = architecture
        if architecture == "skip":
            self.fromrgb = Conv2dLayer(img_channels, in_channels, kernel_size=1, activation=activation)
        self.mbstd = MinibatchStdLayer(mbstd_group_size, mbstd_num_channels) if mbstd_num_channels > 0 else None
        self.conv = Conv2dLayer(in_channels + mbstd_num_channels, in_channels, kernel_size=3,
                                activation=activation, conv_clamp=conv_clamp)
        self.fc = FullyConnectedLayer(in_channels * resolution ** 2, in_channels, activation=activation)
        self.out = FullyConnectedLayer(in_channels, 1 if cmap_dim == 0 else cmap_dim)

    def forward(self, x, img, cmap):
        x = x.to(torch.float32)
        if self.architecture == "skip":
            x = x + self.fromrgb(img.to(torch.float32))
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.out(self.fc(self.conv(x).flatten(1)))
        if self.cmap_dim > 0:
            # Projection conditioning: score = <features, embedded label> / sqrt(dim).
            x = (x * cmap).sum(dim=1, keepdim=True) * (1 / math.sqrt(self.cmap_dim))
        return x


class Discriminator(torch.nn.Module):
    def __init__(
        self,
        c_dim,                  # class label width, 0 = unconditional
        img_resolution,         # input resolution (power of two)
        img_channels,           # image channels
        architecture="resnet",  # 'orig', 'skip' or 'resnet'
        channel_base=32768,     # channels at resolution r = min(channel_base // r, channel_max)
        channel_max=512,        # channel ceiling
        num_fp16_res=0,         # float16 for the N highest resolutions (CUDA only)
        conv_clamp=None,        # clamp conv outputs to +-this, None = off
        cmap_dim=None,          # projected label width, None = channels at 4x4
        block_kwargs=None,      # DiscriminatorBlock arguments
        mapping_kwargs=None,    # MappingNetwork arguments for the label projection
        epilogue_kwargs=None,   # DiscriminatorEpilogue arguments
    ):
        check_resolution(img_resolution)
        super().__init__()
        block_kwargs = dict(block_kwargs or {})
        mapping_kwargs = dict(mapping_kwargs or {})
        epilogue_kwargs = dict(epilogue_kwargs or {})
        self.init_kwargs = dict(c_dim=c_dim, img_resolution=img_resolution, img_channels=img_channels,
                                architecture=architecture, channel_base=channel_base, channel_max=channel_max,
                                num_fp16_res=num_fp16_res, conv_clamp=conv_clamp, cmap_dim=cmap_dim,
                                block_kwargs=dict(block_kwargs), mapping_kwargs=dict(mapping_kwargs),
                                epilogue_kwargs=dict(epilogue_kwargs))
        self.c_dim = c_dim
        self.img_resolution = img_resolution
        self.img_resolution_log2 = int(math.log2(img_resolution))
        self.img_channels = img_channels
        self.block_resolutions = [2 ** i for i in range(self.img_resolution_log2, 2, -1)]
        channels = {res: min(channel_base // res, channel_max) for res in self.block_resolutions + [4]}
        fp16_resolution = max(2 ** (self.img_resolution_log2 + 1 - num_fp16_res), 8)
        if cmap_dim is None:
            cmap_dim = channels[4]
        if c_dim == 0:
            cmap_dim = 0
        common = dict(img_channels=img_channels, architecture=architecture, conv_clamp=conv_clamp)
        layer_index = 0
        for res in self.block_resolutions:
            block = DiscriminatorBlock(channels[res] if res < img_resolution else 0, channels[res], channels[res // 2],
                                       resolution=res, first_layer_idx=layer_index, use_fp16=res >= fp16_resolution,
                                       **block_kwargs, **common)
            setattr(self, f"b{res}", block)
            layer_index += block.num_layers
        if c_dim > 0:
            self.mapping = MappingNetwork(z_dim=0, c_dim=c_dim, w_dim=cmap_dim, num_ws=None, w_avg_beta=None,
                                          **mapping_kwargs)
        self.b4 = DiscriminatorEpilogue(channels[4], cmap_dim=cmap_dim, resolution=4, **epilogue_kwargs, **common)

    def forward(self, img, c, force_fp32=False):
        if img.ndim != 4 or img.shape[1:] != (self.img_channels, self.img_resolution, self.img_resolution):
            raise ValueError(f"img must have shape [batch, {self.img_channels}, {self.img_resolution}, "
                             f"{self.img_resolution}], got {tuple(img.shape)}")
        x = None
        for res in self.block_resolutions:
            x, img = getattr(self, f"b{res}")(x, img, force_fp32=force_fp32)
        cmap = self.mapping(None, c) if self.c_dim > 0 else None
        return self.b4(x, img, cmap)


def count_parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


__all__ = [
    "Discriminator",
    "Generator",
    "MappingNetwork",
    "SynthesisNetwork",
    "check_resolution",
    "count_parameters",
]
