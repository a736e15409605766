"""Load the PyTorch model named by a workflow config, and fingerprint it.

A model section of the config names the architecture in one of two ways and, optionally, the
weights to put into it::

    model:
      factory: "package.module:callable"   # an importable callable that returns a torch.nn.Module
      kwargs: {n_outputs: 3}               # keyword arguments for the callable or class
      weights: model.pt                    # a state_dict file, or a whole saved model

    model:
      file: path/to/model.py               # a Python file defining the class
      class: MyModel
      weights: model.pt

A whole saved model (``torch.save(model)``) can also stand alone as ``weights:`` with neither
``factory`` nor ``file``. Paths are resolved by :func:`resolve_path` (``~`` expanded, relative
paths against ``base_dir``, the workflow's working directory): the loader, the checksum and the
workflow's input files all go through it. Every failure the user can fix raises
:class:`seqlift.errors.InputError` with the file and what to do.

Importing this module does not import torch (aggregation checks a weights file's checksum without
it); the functions that build models import it.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import pickle
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqlift._utils import listing
from seqlift.errors import InputError

if TYPE_CHECKING:
    import torch

__all__ = [
    "load_model",
    "model_checksum",
    "model_files",
    "resolve_path",
    "state_dict_checksum",
    "weights_checksum",
]

_CHUNK_BYTES = 1 << 20


def resolve_path(path: str | os.PathLike, base_dir: str | os.PathLike = ".") -> Path:
    """Where a model path of the config points: ``~`` expanded, relative to ``base_dir``.

    Parameters
    ----------
    path : str or path-like
        ``model.file`` or ``model.weights`` as the config gives it.
    base_dir : str or path-like
        The workflow's working directory.

    Returns
    -------
    Path
        Absolute when ``path`` or ``base_dir`` is.
    """
    path = Path(path).expanduser()
    return path if path.is_absolute() else Path(base_dir) / path


def model_files(model_config: Mapping[str, Any], base_dir: str | os.PathLike = ".") -> list[str]:
    """The files of a config's model (``model.file``, ``model.weights``), resolved.

    The workflow makes them inputs of the attribution and aggregate rules, so that changing one
    recomputes the shards.
    """
    return [
        str(resolve_path(path, base_dir))
        for path in (model_config.get("file"), model_config.get("weights"))
        if path
    ]


def _import_factory(spec: str) -> Any:
    """Return the object named by ``"package.module:callable"`` (dots allowed after the colon)."""
    module_name, sep, attribute_path = spec.partition(":")
    if not sep or not module_name or not attribute_path:
        raise InputError(
            f"model.factory {spec!r} is not of the form 'package.module:callable'; "
            "write the module path, a colon, then the name of the function or class"
        )
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        raise InputError(
            f"model.factory {spec!r}: module {module_name!r} cannot be imported ({error}); "
            "install the package that provides it, or use model.file and model.class instead"
        ) from error
    target: Any = module
    for part in attribute_path.split("."):
        if not hasattr(target, part):
            raise InputError(
                f"model.factory {spec!r}: {module_name!r} has no attribute {attribute_path!r}; "
                "check the spelling after the colon"
            )
        target = getattr(target, part)
    if not callable(target):
        raise InputError(f"model.factory {spec!r} names {type(target).__name__}, not a callable")
    return target


def _import_class_from_file(path: Path, class_name: str | None) -> Any:
    """Import the Python file at ``path`` and return its attribute ``class_name``."""
    if not path.is_file():
        raise InputError(f"model.file {str(path)!r} does not exist; fix the path in the config")
    if not class_name:
        raise InputError(
            f"model.file {str(path)!r} is given without model.class; name the class to build"
        )
    module_name = "seqlift_user_model_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise InputError(f"model.file {str(path)!r} cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    # Registered before execution so that pickling and dataclasses inside the file work.
    sys.modules[module_name] = module
    # The file's own folder goes on sys.path so that it can import its sibling modules.
    folder = str(path.resolve().parent)
    added = folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        sys.modules.pop(module_name, None)
        hint = (
            "install the missing package in the environment the jobs run in"
            if isinstance(error, ImportError)
            else f"fix the error in that file (`python {path}` shows it with its traceback)"
        )
        raise InputError(
            f"model.file {str(path)!r} raised {type(error).__name__} on import: {error}; {hint}"
        ) from error
    finally:
        if added:
            sys.path.remove(folder)
    if not hasattr(module, class_name):
        names = sorted(n for n in vars(module) if not n.startswith("_"))
        raise InputError(
            f"model.file {str(path)!r} defines no {class_name!r}; it defines: {listing(names)}"
        )
    return getattr(module, class_name)


def _load_weights_file(path: Path) -> Any:
    """``torch.load`` with ``weights_only=True``, falling back to full unpickling for whole models.

    The fallback executes pickled code from the file, which is what loading a whole saved model
    means; users who want to avoid it should save a ``state_dict`` instead.
    """
    import torch

    if not path.is_file():
        raise InputError(f"model.weights {str(path)!r} does not exist; fix the path in the config")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        pass
    except Exception as error:  # a TorchScript archive, or not a torch file at all
        try:
            return torch.jit.load(str(path), map_location="cpu")
        except Exception:
            raise InputError(
                f"model.weights {str(path)!r} is not a file torch.load can read ({error})"
            ) from error
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:
        raise InputError(
            f"model.weights {str(path)!r} cannot be unpickled ({type(error).__name__}: {error}); "
            "if it is a whole saved model, model.file or model.factory must make its class importable"
        ) from error


def _as_state_dict(loaded: Any, path: Path) -> Mapping[str, torch.Tensor]:
    """Accept a plain state_dict or a training checkpoint holding one under ``state_dict``."""
    import torch

    if isinstance(loaded, Mapping):
        for key in ("state_dict", "model_state_dict", "model"):
            inner = loaded.get(key)
            if isinstance(inner, Mapping) and all(torch.is_tensor(v) for v in inner.values()):
                return inner
        if all(torch.is_tensor(v) for v in loaded.values()):
            return loaded
    raise InputError(
        f"model.weights {str(path)!r} holds a {type(loaded).__name__}, neither a state_dict "
        "(a mapping of parameter names to tensors) nor a torch.nn.Module"
    )


def _load_state_dict(
    model: torch.nn.Module, state_dict: Mapping[str, torch.Tensor], path: Path
) -> None:
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    if missing or unexpected:
        raise InputError(
            f"model.weights {str(path)!r} does not match the architecture "
            f"{type(model).__name__}: missing keys {listing(missing) or 'none'}; "
            f"unexpected keys {listing(unexpected) or 'none'}. Check model.kwargs and that the "
            "weights were saved from this architecture"
        )
    mismatched = [
        f"{k}: file {tuple(state_dict[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in expected
        if tuple(state_dict[k].shape) != tuple(expected[k].shape)
    ]
    if mismatched:
        raise InputError(
            f"model.weights {str(path)!r} does not match the architecture "
            f"{type(model).__name__}: shapes differ for {listing(mismatched, separator='; ')}. "
            "Check model.kwargs (layer sizes) against the trained model"
        )
    model.load_state_dict(state_dict, strict=True)


def load_model(model_config: Mapping[str, Any], base_dir: str | Path = ".") -> torch.nn.Module:
    """Build the model described by a config's ``model`` section, in eval mode on the CPU.

    Parameters
    ----------
    model_config : mapping
        Keys ``factory`` ("package.module:callable") or ``file`` (path to a .py file) plus
        ``class``; optional ``kwargs`` (mapping) for the callable or class; optional ``weights``,
        a state_dict file (also a checkpoint holding one under ``state_dict``), a whole saved
        model, or a TorchScript archive. ``weights`` alone (no factory/file) must be a whole model.
    base_dir : str or Path
        Folder that relative ``file`` and ``weights`` paths are resolved against.

    Returns
    -------
    torch.nn.Module
        The model, in ``eval()`` mode, taking ``(batch, 4, length)`` input.

    Raises
    ------
    InputError
        File or factory not found, weights that do not fit the architecture (missing and
        unexpected keys are listed), or a factory that returns something other than a Module.
    """
    import torch

    factory = model_config.get("factory")
    file = model_config.get("file")
    kwargs = dict(model_config.get("kwargs") or {})
    weights = model_config.get("weights")
    if factory and file:
        raise InputError("model.factory and model.file are both set; keep one of them")

    builder = None
    if factory:
        builder = _import_factory(str(factory))
    elif file:
        builder = _import_class_from_file(resolve_path(file, base_dir), model_config.get("class"))

    loaded = None
    weights_path = None
    if weights:
        weights_path = resolve_path(weights, base_dir)
        loaded = _load_weights_file(weights_path)

    if builder is None:
        if loaded is None:
            raise InputError(
                "the model section names no model: set model.factory, or model.file with "
                "model.class, or model.weights pointing to a whole saved model"
            )
        if not isinstance(loaded, torch.nn.Module):
            raise InputError(
                f"model.weights {str(weights_path)!r} is a state_dict, which needs an "
                "architecture: add model.factory or model.file with model.class"
            )
        model = loaded
    else:
        try:
            model = builder(**kwargs)
        except TypeError as error:
            raise InputError(
                f"building the model with kwargs {kwargs} failed: {error}; check model.kwargs"
            ) from error
        if not isinstance(model, torch.nn.Module):
            raise InputError(
                f"the model factory returned a {type(model).__name__}, not a torch.nn.Module"
            )
        if isinstance(loaded, torch.nn.Module):
            model = loaded  # a whole saved model wins; the factory only made its class importable
        elif loaded is not None:
            _load_state_dict(model, _as_state_dict(loaded, weights_path), weights_path)
    return model.eval()


def weights_checksum(path: str | Path) -> str:
    """Return the sha256 hex digest of a file's bytes (used to fingerprint model weights)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def state_dict_checksum(model: torch.nn.Module) -> str:
    """Return a sha256 over a model's state_dict (names, dtypes, shapes and values, in order)."""
    import torch

    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def model_checksum(
    model_config: Mapping[str, Any],
    base_dir: str | os.PathLike = ".",
    model: torch.nn.Module | None = None,
) -> str:
    """Fingerprint the model a config describes: the one checksum shards and aggregation compare.

    Parameters
    ----------
    model_config : mapping
        The config's ``model`` section.
    base_dir : str or path-like
        The workflow's working directory (see :func:`resolve_path`).
    model : torch.nn.Module, optional
        The model :func:`load_model` built from ``model_config``, when the caller has it; used
        only without a weights file, instead of building the model again.

    Returns
    -------
    str
        ``"sha256:<hex>"`` of the weights file when there is one (no model built, no torch
        imported); otherwise ``"state_dict-sha256:<hex>"`` of the model's state_dict, which
        covers seeded random initialisations.

    Raises
    ------
    InputError
        ``model.weights`` names a file that does not exist.
    """
    weights = model_config.get("weights")
    if weights:
        path = resolve_path(weights, base_dir)
        if not path.is_file():
            raise InputError(f"model.weights {str(path)!r} does not exist; fix the path in the config")
        return "sha256:" + weights_checksum(path)
    if model is None:
        model = load_model(model_config, base_dir)
    return "state_dict-sha256:" + state_dict_checksum(model)
