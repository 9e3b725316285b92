"""A clean-room StyleGAN2-ADA in plain PyTorch. It imports no Django.

- ``networks``: Generator / Discriminator with the NVlabs parameter layout, seamless ``tile`` mode
- ``legacy``: restricted loader for NVlabs network pickles (never runs code from them)
- ``checkpoint``: our safetensors checkpoint format, ``convert`` from NVlabs pickles
- ``augment``: the ADA pipeline and its p controller
- ``train``: training on a folder of class folders
- ``generate`` / ``project``: seeds to images, style mixing, projection of a reference image

Command line: ``python -m stylegan2_ada {generate,style-mix,train,convert,project} --help``.
"""
