"""The ``CUALIFY_DEVICE`` values, checked in one place (the settings at start-up, the engines at
load time). Standard library only: settings and web processes import it."""
from __future__ import annotations

import re

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def check_device_choice(choice: str) -> str:
    """``choice`` normalised (``auto``, ``cpu``, ``cuda`` or ``cuda:N``), or ValueError."""
    value = (choice or "auto").strip().lower()
    if value in DEVICE_CHOICES or re.fullmatch(r"cuda:\d+", value):
        return value
    raise ValueError(f"CUALIFY_DEVICE must be one of auto, cpu, cuda or cuda:N, not {choice!r}")
