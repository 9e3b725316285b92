"""Test fixtures in the NVlabs stylegan2-ada-pytorch pickle format, and a reference forward pass.

Written from a reading of that project's persistence scheme and network layout, not
with this package's classes: the tree of modules (names, shapes, constructor kwargs)
is spelled out here on its own, so a naming or shape mistake in ``networks.py`` shows
up as a load failure, and ``reference_generator_forward`` recomputes the image from
the raw tensors with tap-by-tap loops, so an arithmetic mistake shows up as a parity
failure.
"""

from __future__ import annotations

import collections
import contextlib
import math
import pickle
import sys
import types

import numpy as np
import torch
import torch.nn.functional as F

# Embedded in every fixture as the "module source"; a loader that executed it would fail loudly.
HOSTILE_MODULE_SRC = "raise RuntimeError('module_src was executed')\n"
PERSISTENCE_VERSION = 6


class EasyDict(dict):
    pass


def _reconstruct_persistent_obj(meta):  # pragma: no cover - only its name is pickled
    raise AssertionError("fixtures are never unpickled with this function")


class _PersistentNode:
    """Pickles as torch_utils.persistence does: a reconstruct call with a meta dict."""

    def __init__(self, class_name, init_kwargs, params, buffers, modules, attrs):
        self.class_name = class_name
        self.init_kwargs = init_kwargs
        self.params = params
        self.buffers = buffers
        self.modules = modules
        self.attrs = attrs

    def __reduce__(self):
        state = {
            "training": False,
            "_parameters": collections.OrderedDict(
                (k, torch.nn.Parameter(v, requires_grad=False)) for k, v in self.params.items()),
            "_buffers": collections.OrderedDict(self.buffers),
            "_non_persistent_buffers_set": set(),
            "_modules": collections.OrderedDict(self.modules),
            "_forward_hooks": collections.OrderedDict(),
            "_init_args": (),
            "_init_kwargs": EasyDict(self.init_kwargs),
            **self.attrs,
        }
        meta = dict(type="class", version=PERSISTENCE_VERSION, module_src=HOSTILE_MODULE_SRC,
                    class_name=self.class_name, state=state)
        return (_reconstruct_persistent_obj, (meta,))

    def flat_tensors(self, prefix=""):
        out = {prefix + k: v for k, v in {**self.params, **self.buffers}.items()}
        for name, child in self.modules.items():
            if child is not None:
                out.update(child.flat_tensors(f"{prefix}{name}."))
        return out


@contextlib.contextmanager
def _fake_nvlabs_modules():
    """Make the NVlabs global names resolvable while pickling, then remove them."""
    names = ("dnnlib", "dnnlib.util", "torch_utils", "torch_utils.persistence")
    saved = {name: sys.modules.get(name) for name in names}
    dnnlib, util = types.ModuleType("dnnlib"), types.ModuleType("dnnlib.util")
    torch_utils, persistence = types.ModuleType("torch_utils"), types.ModuleType("torch_utils.persistence")
    EasyDict.__module__, EasyDict.__qualname__ = "dnnlib.util", "EasyDict"
    util.EasyDict = EasyDict
    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj
    sys.modules.update({"dnnlib": dnnlib, "dnnlib.util": util, "torch_utils": torch_utils,
                        "torch_utils.persistence": persistence})
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


# ----------------------------------------------------------------------------
# The NVlabs module tree, spelled out.


def _filter_4x4():
    taps = torch.tensor([1.0, 3.0, 3.0, 1.0])
    f = torch.outer(taps, taps)
    return f / f.sum()


class _Random:
    def __init__(self, seed):
        self.gen = torch.Generator().manual_seed(seed)

    def randn(self, *shape, scale=1.0):
        return torch.randn(shape, generator=self.gen) * scale


def _fc(rng, in_f, out_f, lr_mul=1.0, bias_init=0.0, activation="linear", bias=True):
    params = {"weight": rng.randn(out_f, in_f) / lr_mul}
    if bias:
        params["bias"] = torch.full([out_f], float(bias_init)) + rng.randn(out_f, scale=0.1)
    kwargs = dict(in_features=in_f, out_features=out_f, activation=activation)
    if lr_mul != 1:
        kwargs["lr_multiplier"] = lr_mul
    if bias_init:
        kwargs["bias_init"] = bias_init
    attrs = {"activation": activation, "weight_gain": np.float64(lr_mul / np.sqrt(in_f)), "bias_gain": lr_mul}
    return _PersistentNode("FullyConnectedLayer", kwargs, params, {}, {}, attrs)


def _mapping(rng, z_dim, c_dim, w_dim, num_ws, num_layers, track_w_avg=True):
    embed = w_dim if c_dim else 0
    widths = [z_dim + embed] + [w_dim] * num_layers
    modules = {}
    if c_dim:
        modules["embed"] = _fc(rng, c_dim, embed)
    for i in range(num_layers):
        modules[f"fc{i}"] = _fc(rng, widths[i], widths[i + 1], lr_mul=0.01, activation="lrelu")
    buffers = {"w_avg": rng.randn(w_dim, scale=0.5)} if track_w_avg else {}
    kwargs = dict(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=num_ws, num_layers=num_layers)
    if not track_w_avg:
        kwargs["w_avg_beta"] = None
    return _PersistentNode("MappingNetwork", kwargs, {}, buffers, modules, {})


def _synthesis_layer(rng, in_ch, out_ch, w_dim, res, up):
    params = {"weight": rng.randn(out_ch, in_ch, 3, 3), "noise_strength": rng.randn(scale=0.3),
              "bias": rng.randn(out_ch, scale=0.1)}
    buffers = {"resample_filter": _filter_4x4(), "noise_const": rng.randn(res, res)}
    modules = {"affine": _fc(rng, w_dim, in_ch, bias_init=1.0)}
    return _PersistentNode("SynthesisLayer", dict(in_channels=in_ch, out_channels=out_ch, w_dim=w_dim,
                                                  resolution=res, up=up), params, buffers, modules, {})


def _torgb(rng, in_ch, img_ch, w_dim):
    params = {"weight": rng.randn(img_ch, in_ch, 1, 1), "bias": rng.randn(img_ch, scale=0.1)}
    modules = {"affine": _fc(rng, w_dim, in_ch, bias_init=1.0)}
    return _PersistentNode("ToRGBLayer", dict(in_channels=in_ch, out_channels=img_ch, w_dim=w_dim),
                           params, {}, modules, {"weight_gain": np.float64(1 / np.sqrt(in_ch))})


def generator_node(seed=0, z_dim=16, c_dim=0, w_dim=16, resolution=32, img_channels=3, channel_base=256,
                   channel_max=32, num_fp16_res=0, conv_clamp=None, mapping_layers=2):
    rng = _Random(seed)
    log2 = int(math.log2(resolution))
    resolutions = [2 ** i for i in range(2, log2 + 1)]
    channels = {r: min(channel_base // r, channel_max) for r in resolutions}
    blocks = {}
    num_ws = 0
    for res in resolutions:
        modules = {}
        params = {}
        if res == 4:
            params["const"] = rng.randn(channels[4], 4, 4)
        else:
            modules["conv0"] = _synthesis_layer(rng, channels[res // 2], channels[res], w_dim, res, up=2)
        modules["conv1"] = _synthesis_layer(rng, channels[res], channels[res], w_dim, res, up=1)
        modules["torgb"] = _torgb(rng, channels[res], img_channels, w_dim)
        num_ws += 1 if res == 4 else 2
        blocks[f"b{res}"] = _PersistentNode("SynthesisBlock", {}, params, {"resample_filter": _filter_4x4()},
                                            modules, {})
    num_ws += 1  # the last toRGB
    synthesis_kwargs = EasyDict(channel_base=channel_base, channel_max=channel_max, num_fp16_res=num_fp16_res,
                                conv_clamp=conv_clamp)
    synthesis = _PersistentNode("SynthesisNetwork", dict(w_dim=w_dim, img_resolution=resolution,
                                                         img_channels=img_channels, **synthesis_kwargs),
                                {}, {}, blocks, {})
    mapping = _mapping(rng, z_dim, c_dim, w_dim, num_ws, mapping_layers)
    kwargs = dict(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, img_resolution=resolution, img_channels=img_channels,
                  mapping_kwargs=EasyDict(num_layers=mapping_layers), synthesis_kwargs=synthesis_kwargs)
    return _PersistentNode("Generator", kwargs, {}, {}, {"synthesis": synthesis, "mapping": mapping}, {})


def _conv(rng, in_ch, out_ch, k, bias=True):
    params = {"weight": rng.randn(out_ch, in_ch, k, k)}
    if bias:
        params["bias"] = rng.randn(out_ch, scale=0.1)
    return _PersistentNode("Conv2dLayer", dict(in_channels=in_ch, out_channels=out_ch, kernel_size=k),
                           params, {"resample_filter": _filter_4x4()}, {}, {})


def discriminator_node(seed=1, c_dim=0, resolution=32, img_channels=3, channel_base=256, channel_max=32,
                       num_fp16_res=0, conv_clamp=None, mbstd_group_size=4):
    rng = _Random(seed)
    log2 = int(math.log2(resolution))
    resolutions = [2 ** i for i in range(log2, 2, -1)]
    channels = {r: min(channel_base // r, channel_max) for r in resolutions + [4]}
    modules = {}
    for res in resolutions:
        block = {}
        if res == resolution:
            block["fromrgb"] = _conv(rng, img_channels, channels[res], 1)
        block["conv0"] = _conv(rng, channels[res], channels[res], 3)
        block["conv1"] = _conv(rng, channels[res], channels[res // 2], 3)
        block["skip"] = _conv(rng, channels[res], channels[res // 2], 1, bias=False)
        modules[f"b{res}"] = _PersistentNode("DiscriminatorBlock", {}, {}, {"resample_filter": _filter_4x4()},
                                             block, {})
    cmap_dim = channels[4] if c_dim else 0
    if c_dim:
        modules["mapping"] = _mapping(rng, 0, c_dim, cmap_dim, None, 8, track_w_avg=False)
    c4 = channels[4]
    epilogue = {
        "mbstd": _PersistentNode("MinibatchStdLayer", dict(group_size=mbstd_group_size), {}, {}, {}, {}),
        "conv": _conv(rng, c4 + 1, c4, 3),
        "fc": _fc(rng, c4 * 16, c4, activation="lrelu"),
        "out": _fc(rng, c4, cmap_dim or 1),
    }
    modules["b4"] = _PersistentNode("DiscriminatorEpilogue", {}, {}, {}, epilogue, {})
    kwargs = dict(c_dim=c_dim, img_resolution=resolution, img_channels=img_channels,
                  block_kwargs=EasyDict(), mapping_kwargs=EasyDict(),
                  epilogue_kwargs=EasyDict(mbstd_group_size=mbstd_group_size),
                  channel_base=channel_base, channel_max=channel_max, num_fp16_res=num_fp16_res,
                  conv_clamp=conv_clamp)
    return _PersistentNode("Discriminator", kwargs, {}, {}, modules, {})


def augment_pipe_node(p=0.25):
    kwargs = dict(xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1, brightness=1,
                  contrast=1, lumaflip=1, hue=1, saturation=1)
    return _PersistentNode("AugmentPipe", kwargs, {}, {"p": torch.tensor(p)}, {}, {})


def write_network_pickle(path, G, D=None, G_ema=None, augment_p=0.25, training_set_kwargs=None):
    data = dict(G=G, D=D, G_ema=G_ema or G, augment_pipe=augment_pipe_node(augment_p),
                training_set_kwargs=EasyDict(training_set_kwargs or dict(path="motifs.zip", use_labels=True,
                                                                         max_size=1053, xflip=False,
                                                                         resolution=32)))
    with _fake_nvlabs_modules(), open(path, "wb") as file:
        pickle.dump(data, file, protocol=3)  # what Python 3.7 (the study's) wrote by default


# ----------------------------------------------------------------------------
# Reference forward pass, from the paper's formulas, one filter tap at a time.


def _lrelu(x):
    return torch.where(x >= 0, x, 0.2 * x) * math.sqrt(2)


def _dense(t, x, name, lr_mul=1.0, act=False):
    weight, bias = t[name + ".weight"], t[name + ".bias"]
    y = x @ (weight * (lr_mul / math.sqrt(weight.shape[1]))).T + bias * lr_mul
    return _lrelu(y) if act else y


def _correlate_taps(x, kernel):
    """Valid correlation of [C,H,W] ``x`` with [O,C,kh,kw] ``kernel``, summed tap by tap."""
    out_ch, _, kh, kw = kernel.shape
    h, w = x.shape[1] - kh + 1, x.shape[2] - kw + 1
    y = torch.zeros(out_ch, h, w, dtype=x.dtype)
    for dy in range(kh):
        for dx in range(kw):
            y += torch.einsum("oc,chw->ohw", kernel[:, :, dy, dx], x[:, dy:dy + h, dx:dx + w])
    return y


def _blur(x, f, pad0, pad1, gain):
    c = x.shape[0]
    x = F.pad(x[None], [pad0, pad1, pad0, pad1])[0]
    kernel = torch.zeros(c, c, *f.shape, dtype=x.dtype)
    for i in range(c):
        kernel[i, i] = f.flip([0, 1]) * gain
    return _correlate_taps(x, kernel)


def _zero_insert(x):
    c, h, w = x.shape
    up = torch.zeros(c, 2 * h, 2 * w, dtype=x.dtype)
    up[:, ::2, ::2] = x
    return up


def _modconv(x, weight, style, demodulate, up):
    w = weight * style[None, :, None, None]
    if demodulate:
        w = w / torch.sqrt(w.square().sum(dim=[1, 2, 3], keepdim=True) + 1e-8)
    k = w.shape[-1]
    if up:
        # Transposed convolution: zero insertion, then a full convolution (flipped kernel).
        u = F.pad(_zero_insert(x)[None], [k - 1, 1, k - 1, 1])[0]
        return _correlate_taps(u, w.flip([2, 3]))
    p = k // 2
    return _correlate_taps(F.pad(x[None], [p, p, p, p])[0], w)


def reference_generator_forward(t, z, c, *, num_ws, w_dim, resolution, channel_base, channel_max,
                                mapping_layers, conv_clamp=None, psi=1.0, cutoff=None):
    """One image per row of z, noise_mode='const', float64 throughout."""
    t = {k: v.to(torch.float64) for k, v in t.items()}
    images = []
    for n in range(z.shape[0]):
        zi = z[n:n + 1].to(torch.float64)
        x = zi / torch.sqrt(zi.square().mean() + 1e-8)
        if c is not None and "mapping.embed.weight" in t:
            y = _dense(t, c[n:n + 1].to(torch.float64), "mapping.embed")
            x = torch.cat([x, y / torch.sqrt(y.square().mean() + 1e-8)], dim=1)
        for i in range(mapping_layers):
            x = _dense(t, x, f"mapping.fc{i}", lr_mul=0.01, act=True)
        ws = [x[0]] * num_ws
        w_avg = t["mapping.w_avg"]
        ws = [w_avg + psi * (w - w_avg) if (cutoff is None or i < cutoff) else w for i, w in enumerate(ws)]

        f = t["synthesis.b4.resample_filter"]
        img = None
        feat = None
        w_index = 0
        for res in [2 ** i for i in range(2, int(math.log2(resolution)) + 1)]:
            prefix = f"synthesis.b{res}"
            names = ["conv1"] if res == 4 else ["conv0", "conv1"]
            if res == 4:
                feat = t[prefix + ".const"]
            for name in names:
                layer = f"{prefix}.{name}"
                style = _dense(t, ws[w_index][None], layer + ".affine")[0]
                w_index += 1
                up = name == "conv0"
                feat = _modconv(feat, t[layer + ".weight"], style, demodulate=True, up=up)
                if up:
                    feat = _blur(feat, f, 1, 1, gain=4.0)
                feat = feat + t[layer + ".noise_const"] * t[layer + ".noise_strength"]
                feat = _lrelu(feat + t[layer + ".bias"][:, None, None])
                if conv_clamp is not None:
                    feat = feat.clamp(-conv_clamp, conv_clamp)
            if img is not None:
                img = _blur(_zero_insert(img), f, 2, 1, gain=4.0)
            rgb_w = t[prefix + ".torgb.weight"]
            style = _dense(t, ws[w_index][None], prefix + ".torgb.affine")[0] / math.sqrt(rgb_w.shape[1])
            rgb = _modconv(feat, rgb_w, style, demodulate=False, up=False) + t[prefix + ".torgb.bias"][:, None, None]
            if conv_clamp is not None:
                rgb = rgb.clamp(-conv_clamp, conv_clamp)
            img = rgb if img is None else img + rgb
        images.append(img)
    return torch.stack(images).to(torch.float32)
