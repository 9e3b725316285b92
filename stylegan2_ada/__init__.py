"""A clean-room StyleGAN2-ADA in plain PyTorch (networks, ADA augmentation, training loop,
safe loader for NVlabs network pickles). It imports no Django. Filled by the stylegan2_ada
issue."""
