"""Where models run: ``CUALIFY_DEVICE`` = ``auto`` | ``cpu`` | ``cuda`` (or ``cuda:N``). No Django.

``auto`` means CUDA when it is there, else the CPU. "There" depends on what serves the model:
torch's ``torch.cuda.is_available()`` for PyTorch engines, ONNX Runtime's CUDA execution
provider for ONNX engines, so a worker serving ONNX never imports torch to find out. ``cuda``
where there is none is an error at load time, never a silent fall-back.
"""
from __future__ import annotations

from core.devices import DEVICE_CHOICES as CHOICES
from core.devices import check_device_choice as check_choice

__all__ = ["CHOICES", "DeviceUnavailable", "check_choice", "onnx_providers", "resolve_device"]


class DeviceUnavailable(RuntimeError):
    pass


def _cuda_in_torch() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def _cuda_in_onnxruntime() -> bool:
    try:
        import onnxruntime
    except ImportError:
        return False
    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


def resolve_device(choice: str, *, backend: str = "torch") -> str:
    """``"cpu"`` or ``"cuda[:N]"`` for models served by ``backend`` (``"torch"`` or ``"onnx"``)."""
    value = check_choice(choice)
    if value == "cpu":
        return "cpu"
    available = _cuda_in_onnxruntime() if backend == "onnx" else _cuda_in_torch()
    if value == "auto":
        return "cuda" if available else "cpu"
    if not available:
        where = "ONNX Runtime has no CUDA execution provider" if backend == "onnx" else "torch sees no CUDA device"
        raise DeviceUnavailable(f"CUALIFY_DEVICE={value}, but {where}")
    return value


def onnx_providers(device: str) -> list:
    """ONNX Runtime's execution providers for ``device`` (CUDA first, the CPU as its fall-back)."""
    if device.startswith("cuda"):
        index = int(device.split(":", 1)[1]) if ":" in device else 0
        return [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]
