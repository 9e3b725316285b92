"""Tiny network configurations shared by the tests."""

import torch

from stylegan2_ada.networks import Discriminator, Generator

TINY_SYNTHESIS = dict(channel_base=256, channel_max=32)


def tiny_generator(c_dim=0, resolution=16, seed=0, **synthesis_kwargs):
    torch.manual_seed(seed)
    return Generator(z_dim=16, c_dim=c_dim, w_dim=16, img_resolution=resolution, img_channels=3,
                     mapping_kwargs=dict(num_layers=2),
                     synthesis_kwargs={**TINY_SYNTHESIS, **synthesis_kwargs}).eval()


def tiny_discriminator(c_dim=0, resolution=16, seed=1):
    torch.manual_seed(seed)
    return Discriminator(c_dim=c_dim, img_resolution=resolution, img_channels=3, mapping_kwargs=dict(num_layers=2),
                         **TINY_SYNTHESIS)


def labels(c_dim, indices):
    if not c_dim:
        return torch.zeros([len(indices), 0])
    return torch.eye(c_dim)[list(indices)]
