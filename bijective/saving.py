"""bj.save and bj.load: a model as a folder to share, rebuilt by name, with no pickle.

    config.json         {"format": 1, "library": "bijective", "version": ..., "model":
                        {"name": catalogue name, "arguments": {...}}, "dequantization":
                        null or {"dequantization", "levels", "logit"}, "event_shape": [...],
                        "dtype", "preprocessing": null or what the data went through}
    model.safetensors   the weights, with the SHA-256 of their tensors in the metadata, which
                        config.json's "weights_sha256" repeats (the two files pair up)

This is the layout huggingface_hub reads, so `huggingface_hub.upload_folder` publishes a
saved folder unchanged, and `bj.load` reads a local snapshot of such a repository. A run
directory loads too (its best weights), and `bj.save(run_dir, path)` keeps the run's
preprocessing: "standardise" {"shift", "scale"} (the model sees (x - shift) / scale, and
log p(x) = log p_model((x - shift) / scale) - sum(log scale)), "bits_shift" (discrete
values x >> s) and "binarised". Every problem (no config.json, a tampered weights file, an
unknown name, a newer format) is one SaveError line, and a failed save writes nothing.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import __version__
from .catalogue import MODELS
from .flows import DequantizedFlow, dequantized
from .recorded import built_with
from .train.checkpoint import DIGEST, CheckpointError, load_weights, save_weights
from .train.faults import write_atomically, writing
from .train.state import load_model_weights

FORMAT = 1  # what config.json's layout is; a later, incompatible layout gets 2
CONFIG_JSON, WEIGHTS = "config.json", "model.safetensors"


class SaveError(ValueError):
    """A model that cannot be saved or a folder that cannot be loaded, in one line."""


def _catalogue_name(cls: type) -> str:
    names = [e.name for e in MODELS.entries() if e.build is cls]
    if not names:
        raise SaveError(
            f"bj.save: {cls.__name__} is not a model of the catalogue (`bijective list`); "
            "save its state_dict with safetensors instead"
        )
    return names[0]


def _json(value: Any, where: str) -> Any:
    """Constructor arguments or preprocessing as JSON values (tuples as lists)."""
    if isinstance(value, tuple | list):
        return [_json(v, where) for v in value]
    if isinstance(value, dict):
        return {str(k): _json(v, f"{where}.{k}") for k, v in value.items()}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise SaveError(f"bj.save: {where} is a {type(value).__name__}, which config.json cannot hold")


def _describe(cls: type, arguments: dict[str, Any] | None) -> dict[str, Any]:
    name = _catalogue_name(cls)
    if arguments is None:
        raise SaveError(f"bj.save: this {cls.__name__} does not know its arguments")
    return {"name": name, "arguments": {k: _json(v, k) for k, v in arguments.items()}}


def _preprocessing(run: Any) -> dict[str, Any] | None:
    """What a run's data went through before the model saw them."""
    data = getattr(run, "data", None)
    if data is None or not hasattr(run, "to_data_space"):
        return None
    return {
        "standardise": None
        if data.scale is None
        else {"shift": data.shift.tolist(), "scale": data.scale.tolist()},
        "bits_shift": run.shift if run.levels is not None else None,
        "binarised": bool(run.binarised),
    }


def save(model: nn.Module | str | Path, path: str | Path, preprocessing: Any = None) -> Path:
    """Writes `model` (a catalogue model, built in Python or by a run, or the path of a
    run directory: its best weights and preprocessing) to the folder `path` as
    config.json + model.safetensors; returns the folder. The folder must be new or
    empty, or a saved model (replaced)."""
    path = Path(path)
    if isinstance(model, str | Path):
        from .train.run import open_run

        run = open_run(model)
        model, preprocessing = run.model, _preprocessing(run)
    if path.exists() and any(path.iterdir()) and not (path / CONFIG_JSON).exists():
        raise SaveError(f"bj.save: {path}: not empty and not a saved model; choose another path")
    config: dict[str, Any] = {"format": FORMAT, "library": "bijective", "version": __version__}
    if isinstance(model, DequantizedFlow):
        if model.recipe is None:
            raise SaveError("bj.save: this DequantizedFlow was not made by bj.flows.dequantized")
        cls, arguments = model.recipe["flow"]
        config["model"] = _describe(cls, arguments)
        config["dequantization"] = {
            "dequantization": model.recipe["dequantization"],
            "levels": model.levels,
            "logit": model.recipe["logit"],
        }
    else:
        config["model"] = _describe(type(model), built_with(model))
        config["dequantization"] = None
    config["event_shape"] = list(model.event_shape)
    config["dtype"] = str(next(model.parameters()).dtype).removeprefix("torch.")
    config["preprocessing"] = _json(preprocessing, "preprocessing") if preprocessing else None
    created = not path.exists()
    try:
        with writing(path):
            path.mkdir(parents=True, exist_ok=True)
        # config.json, written last, repeats the weights' SHA-256: the two files pair up.
        sha = save_weights(path / WEIGHTS, model.state_dict(), {"format": str(FORMAT)})
        config["weights_sha256"] = sha
        write_atomically(path / CONFIG_JSON, json.dumps(config, indent=1) + "\n")
    except BaseException:
        if created:  # a failed save (a full disk) leaves nothing behind
            shutil.rmtree(path, ignore_errors=True)
        raise
    return path


def read_config(path: str | Path) -> dict[str, Any]:
    """A saved folder's config.json, checked: bijective's, in a format this version reads."""
    file = Path(path) / CONFIG_JSON
    if not file.exists():
        raise SaveError(
            f"{path}: no {CONFIG_JSON}; not a model saved by bj.save, nor a run directory"
        )
    try:
        config = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise SaveError(f"{file}: not valid JSON ({error})") from None
    if not isinstance(config, dict) or config.get("library") != "bijective":
        raise SaveError(f'{file}: not a bijective model\'s config (no "library": "bijective")')
    if not isinstance(config.get("format"), int) or config["format"] > FORMAT:
        raise SaveError(
            f"{file}: saved by bijective {config.get('version', '?')} in format "
            f"{config.get('format')!r}; this bijective {__version__} reads format {FORMAT} "
            "and older: upgrade bijective"
        )
    return config


def load(path: str | Path) -> nn.Module:
    """The model saved in the folder `path` (by bj.save, or a local snapshot of a Hugging
    Face repository holding one), or a run directory's model with its best weights; in
    eval mode. The weights' SHA-256 is checked."""
    path = Path(path)
    if (path / "config.yaml").exists() and not (path / CONFIG_JSON).exists():
        from .train.run import open_run

        return open_run(path).model
    config = read_config(path)
    try:
        name, arguments = config["model"]["name"], config["model"]["arguments"]
        entry = MODELS[name]
    except (KeyError, TypeError):
        raise SaveError(f"{path / CONFIG_JSON}: no model name and arguments") from None
    except ValueError as error:  # the registry's one line: an unknown name
        raise SaveError(f"{path / CONFIG_JSON}: {error}") from None
    try:
        model = entry.build(**arguments)
        if config.get("dequantization"):
            model = dequantized(model, **config["dequantization"])
        model = model.to(getattr(torch, config.get("dtype", "float32")))
    except (TypeError, ValueError, AttributeError) as error:
        raise SaveError(f"{path / CONFIG_JSON}: cannot build {name} ({error})") from None
    try:
        weights, metadata = load_weights(path / WEIGHTS)
        load_model_weights(model, weights, str(path / WEIGHTS))
    except CheckpointError as error:
        raise SaveError(str(error)) from None
    paired = config.get("weights_sha256")
    if paired is not None and metadata.get(DIGEST) != paired:
        raise SaveError(
            f"{path}: {CONFIG_JSON} and {WEIGHTS} come from different saves (the weights' "
            "SHA-256 is not the one config.json records)"
        )
    return model.eval()
