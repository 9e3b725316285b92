"""Pure PyTorch / ONNX Runtime engines for motif classification: no Django import anywhere.

- ``offline``: one place that keeps Ultralytics off the network (call before importing it).
- ``classifier``: load a YOLO11-cls ``.pt`` or its ``.onnx`` export; preprocess, predict, embed.
- ``ood``: "not a known motif" — softmax confidence plus cosine distance to the archive's
  training embeddings, calibrated on held-out images.
- ``saliency``: Grad-CAM heat maps over the photo.
- ``training``: train YOLO11-cls with Ultralytics, evaluate a class-folder tree, plots.
- ``generator``: fusion, variation and reference projection on the StyleGAN2-ADA generator (its
  Pillow-only helpers, PNG metadata, upscaling, repeat previews and print sheets, are
  ``inference.generation.images``, which web processes use without importing any engine).
- ``refiner``: the small diffusers UNet + DDIM refiner (SDEdit), its training and quality report:
  a package with one module per job.
- ``prompt``: Indonesian/English prompts to motif weights and colours (all-MiniLM-L6-v2).
- ``metrics``: Fréchet distance, KID, diversity and agreement on embeddings (numpy only).
- ``errors``: :class:`EngineError`, the base of every engine's error (a ``code``, an English
  ``message``, ``details``), and the table of codes; standard library only, so web processes
  may import it.

``python -m inference.engines {train,evaluate,calibrate,export-onnx,predict,refiner-train,refiner-eval}``
reproduces the shipped weights without Django. Heavy libraries (torch, ultralytics, onnxruntime) are imported lazily
inside functions so importing this package stays cheap; this file imports nothing.
"""
