"""Model registry, classification records, the per-worker model runtime, and the pure-torch
engines (inference/engines/). Web processes never import torch or ultralytics from here:
only the queue workers (django-q2 cluster) load models."""
