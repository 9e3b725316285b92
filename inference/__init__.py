"""Model registry, classification records, generation jobs, the per-worker model runtime and
the pure-torch engines (inference/engines/). Filled by the classification and generation
issues; the web processes never import torch from here."""
