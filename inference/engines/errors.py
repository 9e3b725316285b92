"""The one error type of the engines, and the codes it carries.

An :class:`EngineError` has a stable ``code`` for programs (the web translates it:
``inference.generation.messages.ERROR_MESSAGES`` has a message for every code in
:data:`CODES`), an English ``message`` for logs and developers, and ``details``, a dict of the
offending values. Each engine raises its own subclass, so a caller can still tell a refused
prompt from a broken refiner, and ``isinstance(error, EngineError)`` catches them all.

One vocabulary for the codes: ``bad_<thing>`` for input that is not acceptable,
``no_<thing>`` for something missing, ``too_<...>`` for sizes past a bound. Codes the site
translated before this vocabulary (``empty``, ``one_motif``, ``motif_not_generatable``,
``duplicate_motif``, ``source_not_in_motifs``) keep their names.

Standard library only: web processes import this module (the image helpers in
``inference.generation.images`` raise :class:`GenerationError`) and must never load torch.
"""
from __future__ import annotations

__all__ = [
    "CODES",
    "ClassifierLoadError",
    "EngineError",
    "GenerationError",
    "GeneratorLoadError",
    "PromptEncoderLoadError",
    "PromptError",
    "RefinerError",
]

# Every code an engine raises, with what it means. A test greps the engine sources for codes
# and checks that each is listed here and has a translated message.
CODES: dict[str, str] = {
    # requests to the generator (and the image helpers)
    "bad_count": "count is not 1..8",
    "bad_seed": "a seed outside its range (generator: seed + count - 1 within 0..2**32 - 1)",
    "bad_range": "truncation, distance, projection steps, print size, dpi or repeat outside its range",
    "bad_upscale": "upscale is not 1, 2, 4 or 8",
    "too_few_motifs": "a fusion of fewer than two motifs",
    "too_many_motifs": "a fusion of more than four motifs",
    "motif_not_generatable": "a class index or name the generator does not have",
    "bad_weights": "not one weight per motif, a negative or non-finite one, or all zero",
    "duplicate_motif": "the same motif twice in one fusion",
    "source_not_in_motifs": "structure_from / detail_from is not one of the fused motifs",
    "one_motif": "a conditional generator needs a class for this mode",
    "no_classes": "fusion asked of a generator without classes",
    "bad_base": "variation given both a base ws and a base seed",
    "bad_latent": "ws of the wrong shape, or not finite",
    "bad_image": "not a usable image (a reference, a training image, or a tile that is not square)",
    "too_large": "an output (print, upscale, repeat preview) past its pixel limit",
    "bad_metadata": "PNG metadata keys or values that PNG cannot hold",
    "bad_png": "read_png_metadata was given something that is not a readable PNG",
    # prompts
    "empty": "a prompt with no words",
    "too_long": "a prompt longer than core.limits.PROMPT_MAX_CHARS",
    "bad_characters": "a prompt with control characters",
    "no_motifs": "no motifs to match a prompt against",
    # the refiner
    "bad_images": "refiner input that is not a non-empty uint8 [N, H, W, 3] array within MAX_ENGINE_SIDE",
    "bad_strength": "refinement strength outside (0, 1]",
    "bad_steps": "denoising steps outside 1..1000",
    "bad_options": "training or evaluation options that cannot work",
    "no_training_data": "no data folder, or no images in it",
    "bad_snapshot": "resuming from a snapshot of another network shape or resolution",
    # loading any model
    "no_model": "the model file or folder does not exist",
    "bad_model": "a file or folder that is not a model this engine can load",
    "bad_device": "a device other than cpu or cuda",
}


class EngineError(Exception):
    """An engine refuses or fails: ``code`` (one of :data:`CODES`), ``message`` (English), ``details``."""

    def __init__(self, code: str, message: str, **details) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r})"

    def __reduce__(self):
        # Rebuilt from all three fields: a queue worker may pickle the error back to the web process.
        return _rebuild, (type(self), self.code, self.message, self.details)


def _rebuild(cls, code: str, message: str, details: dict) -> EngineError:
    return cls(code, message, **details)


class GenerationError(EngineError, ValueError):
    """Invalid generation input: the generator's modes and the image, print and PNG helpers.
    For ``bad_range`` and ``bad_weights``, ``details["field"]`` / ``details["reason"]`` say which."""


class GeneratorLoadError(EngineError):
    """The generator file is missing or not a network this engine can load."""


class PromptError(EngineError, ValueError):
    """A prompt the engine refuses (``empty``, ``too_long``, ``bad_characters``, ``no_motifs``)."""


class PromptEncoderLoadError(EngineError):
    """The sentence-encoder folder is missing or not a sentence-transformers model."""


class RefinerError(EngineError):
    """A refiner cannot be loaded, trained or run as asked."""

    def __str__(self) -> str:
        # The command-line tools print the error alone: the code tells which rule was broken.
        return f"{self.code}: {self.message}"


class ClassifierLoadError(EngineError):
    """The file is missing, unreadable, or not an image classifier this engine can run."""
