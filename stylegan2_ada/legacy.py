"""Load NVlabs stylegan2-ada-pytorch network pickles without running any code from them.

Their pickles store each network as a "persistent object": a call to
``torch_utils.persistence._reconstruct_persistent_obj(meta)`` whose ``meta`` carries the
full source of the module that defined the class (which the official loader ``exec``s),
the class name, and the object's ``__dict__`` (parameters, buffers, sub-modules and the
constructor's ``init_args``/``init_kwargs``). Here a restricted unpickler allows only
the handful of globals that format needs; the reconstruct call is answered by a
function that merely records what was saved, and the records of the top-level networks
are rebuilt as this package's classes from their saved constructor arguments, with
their tensors copied in by name. ``module_src`` is never looked at, let alone run.
"""

from __future__ import annotations

import collections
import io
import pickle
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

from stylegan2_ada.networks import Discriminator, Generator

# The formats were written by numpy 1.x (numpy.core) and are read by numpy 2.x (numpy._core).
try:
    from numpy._core import multiarray as _np_multiarray
except ImportError:  # numpy < 2
    from numpy.core import multiarray as _np_multiarray

NETWORK_CLASSES = {"Generator": Generator, "Discriminator": Discriminator}
NETWORK_KEYS = ("G", "D", "G_ema")


class NetworkPickleError(ValueError):
    """The file is not a usable NVlabs network pickle (truncated, wrong content, mismatched state)."""


class UnsafePickleError(NetworkPickleError, pickle.UnpicklingError):
    """The pickle references a global the network format never needs."""


@dataclass(frozen=True)
class PersistentRecord:
    """What a persistent object saved: class name, constructor arguments and ``__dict__``."""

    class_name: str
    init_args: tuple
    init_kwargs: dict
    state: dict


@dataclass(frozen=True)
class NetworkPickle:
    G_ema: Generator                                        # the generator to sample from
    G: Generator | None = None                              # the training generator, if saved
    D: Discriminator | None = None                          # the discriminator, if saved
    augment_kwargs: dict | None = None                      # ADA pipeline arguments and its p
    training_set_kwargs: dict = field(default_factory=dict)  # how the training set was read


class _EasyDictStandIn(dict):
    """Receives ``dnnlib.util.EasyDict`` instances; turned into plain dicts afterwards."""


def _reconstruct_persistent_obj(meta):
    if not isinstance(meta, dict) or meta.get("type") != "class" or not isinstance(meta.get("state"), dict):
        raise NetworkPickleError("malformed persistent object in the pickle")
    state = meta["state"]
    return PersistentRecord(
        class_name=str(meta.get("class_name", "")),
        init_args=tuple(state.get("_init_args", ()) or ()),
        init_kwargs=dict(state.get("_init_kwargs", {}) or {}),
        state=state,
    )


def _load_storage_from_bytes(data: bytes):
    # Tensor storages are nested torch.save blobs; torch's own weights-only reader
    # accepts nothing but tensor data.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def _allowed_globals() -> dict[tuple[str, str], Any]:
    allowed = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
        ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
        ("torch.storage", "_load_from_bytes"): _load_storage_from_bytes,
        ("numpy", "dtype"): np.dtype,
        ("numpy", "ndarray"): np.ndarray,
        ("dnnlib.util", "EasyDict"): _EasyDictStandIn,
        ("dnnlib", "EasyDict"): _EasyDictStandIn,
        ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    }
    for optional in ("_rebuild_parameter_with_state",):
        if hasattr(torch._utils, optional):
            allowed[("torch._utils", optional)] = getattr(torch._utils, optional)
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "scalar")] = _np_multiarray.scalar
        allowed[(module, "_reconstruct")] = _np_multiarray._reconstruct
    return allowed


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals a network pickle needs."""

    _allowed = _allowed_globals()

    def find_class(self, module: str, name: str):
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refusing to load the global {module}.{name}: a network pickle never needs it"
            ) from None


def _plain(value):
    """Deep-convert EasyDict stand-ins, numpy scalars and tuples into plain Python values."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(item) for item in value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def _collect_tensors(record: PersistentRecord, prefix: str = "", out: dict | None = None) -> dict:
    out = {} if out is None else out
    for group in ("_parameters", "_buffers"):
        for name, tensor in (record.state.get(group) or {}).items():
            if tensor is not None:
                out[prefix + name] = tensor.detach().to(torch.float32)
    for name, child in (record.state.get("_modules") or {}).items():
        if isinstance(child, PersistentRecord):
            _collect_tensors(child, f"{prefix}{name}.", out)
    return out


def build_network(record: PersistentRecord) -> torch.nn.Module:
    """Construct our class named by ``record`` and copy its saved tensors in by name."""
    short_name = record.class_name.rsplit(".", 1)[-1]
    cls = NETWORK_CLASSES.get(short_name)
    if cls is None:
        raise NetworkPickleError(f"unsupported network class {record.class_name!r}")
    kwargs = _plain(record.init_kwargs)
    try:
        network = cls(*_plain(record.init_args), **kwargs)
    except TypeError as error:
        raise NetworkPickleError(f"cannot build {short_name} from the saved arguments: {error}") from error
    tensors = _collect_tensors(record)
    expected = network.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise NetworkPickleError(
            f"{short_name} state does not match its arguments: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    for name, tensor in tensors.items():
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise NetworkPickleError(
                f"{short_name}.{name} has shape {tuple(tensor.shape)}, expected {tuple(expected[name].shape)}"
            )
    network.load_state_dict(tensors)
    return network.eval().requires_grad_(False)


def _augment_kwargs(record) -> dict | None:
    if not isinstance(record, PersistentRecord):
        return None
    kwargs = _plain(record.init_kwargs)
    p = (record.state.get("_buffers") or {}).get("p")
    if isinstance(p, torch.Tensor):
        kwargs["p"] = float(p.reshape(-1)[0])
    return kwargs


def unpickle_restricted(file: BinaryIO):
    try:
        return RestrictedUnpickler(file).load()
    except NetworkPickleError:
        raise
    except (pickle.UnpicklingError, EOFError, AttributeError, ValueError, TypeError, IndexError, RuntimeError) as error:
        raise NetworkPickleError(f"truncated or invalid network pickle: {error}") from error


def load_network_pickle(source: str | Path | BinaryIO) -> NetworkPickle:
    """Read an NVlabs network pickle (dict with G, D, G_ema, augment_pipe, training_set_kwargs)."""
    if isinstance(source, (str, Path)):
        with open(source, "rb") as file:
            data = unpickle_restricted(file)
    else:
        data = unpickle_restricted(source)
    if not isinstance(data, dict):
        raise NetworkPickleError(f"expected a dict with G_ema in the pickle, got {type(data).__name__}")
    records = {key: data.get(key) for key in NETWORK_KEYS}
    for key, record in records.items():
        if record is not None and not isinstance(record, PersistentRecord):
            raise NetworkPickleError(f"{key} in the pickle is not a saved network")
    g_ema_record = records["G_ema"] or records["G"]
    if g_ema_record is None:
        raise NetworkPickleError("the pickle holds neither G_ema nor G")
    networks = {key: build_network(record) for key, record in records.items() if record is not None}
    G_ema = networks.get("G_ema") or build_network(g_ema_record)
    if not isinstance(G_ema, Generator):
        raise NetworkPickleError("G_ema in the pickle is not a generator")
    return NetworkPickle(
        G_ema=G_ema,
        G=networks.get("G"),
        D=networks.get("D"),
        augment_kwargs=_augment_kwargs(data.get("augment_pipe")),
        training_set_kwargs=_plain(data.get("training_set_kwargs") or {}),
    )


def is_pickle_file(path: str | Path) -> bool:
    with open(path, "rb") as file:
        return file.read(1) == b"\x80"
