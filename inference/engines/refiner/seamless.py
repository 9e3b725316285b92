"""Seamless tiles through the refiner: a UNet whose convolutions pad by wrapping around.

With circular padding every pixel of the edge sees the opposite edge as its neighbour, as it
will when the tile is repeated, so refinement cannot open a seam. Only the padding changes:
the weights are the same, so a plain image refined with either network differs only at its
borders.
"""
from __future__ import annotations


def circular_copy(unet):
    """A copy of ``unet`` whose padded convolutions pad circularly (the original is untouched:
    other threads may be refining plain images with it)."""
    import copy

    import torch

    circular = copy.deepcopy(unet)
    for module in circular.modules():
        if isinstance(module, torch.nn.Conv2d) and any(module.padding):
            module.padding_mode = "circular"
    return circular
