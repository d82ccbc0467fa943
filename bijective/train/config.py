"""Experiment configs: YAML validated into typed, frozen objects.

A config has four parts: `name`, `data` (which set, its loader's options and how it is
preprocessed) or `target` (an unnormalized density to fit by variational inference),
`model` (an architecture and its builder's arguments) and `train` (the optimisation).
The fields of data, target and model come from the catalogue (bijective.catalogue): the
common fields below plus the arguments of the named entry's builder, typed and defaulted
as there, less those the data supply. A field that does not exist, a wrong type or an
impossible value raises ConfigError with one line naming the field and what is allowed.
Reading YAML files and `--set` overrides: bijective.train.config_files.
"""

from __future__ import annotations

import functools
import inspect
import re
import sys
import typing
from collections.abc import Sequence
from typing import Annotated, Any, Literal

import torch
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    SerializeAsAny,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from ..catalogue import DATASETS, MODELS, TARGETS
from ..registry import Registry


class ConfigError(ValueError):
    """A config that cannot be used: the message names the field and what is allowed."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(Strict):
    """Which data set, and its loader's options (`bijective list` shows each set's).
    Discrete sets (pixels) reach a continuous model through bijective.flows.dequantized:
    `dequantization` uniform, or variational (a learned q(u | x), Flow++; image flows);
    with `logit` a, the model sees logit(a + (1 - 2a) y) of the dequantized y in [0, 1),
    log-det counted; `n_bits` n < 8 keeps the top n bits of 256-level pixels (Glow's
    5-bit runs). `binarise`: pixels become binary images, b ~ Bernoulli(x / (L - 1)),
    drawn afresh for each training batch, once (seeded) for validation and test.
    `conditional`: the labels, one-hot, are the model's context. `seed` seeds the split
    (where the set has one) and the evaluation draws."""

    name: str
    seed: int = 0
    standardise: bool = True
    logit: Annotated[float, Field(ge=0, lt=0.5)] | None = 0.05
    conditional: bool = False
    dequantization: Literal["uniform", "variational"] = "uniform"
    n_bits: PositiveInt | None = None
    binarise: bool = False

    def loader_options(self) -> dict[str, Any]:
        """The options of the data set's loader."""
        return {n: getattr(self, n) for n in DATASETS[self.name].options}


class TargetConfig(Strict):
    """Variational inference: fit the flow q to the unnormalized density `name` (a
    bijective.targets built-in, with its options) by minimising E_q[log q - beta log p~]
    on train.batch samples per step. beta rises linearly from 0.01 to 1 over the first
    `anneal` steps (Rezende & Mohamed 2015, section 6.1); 0 means beta = 1 throughout.
    Validation reports the exact KL(q || p) from `val_samples` draws (a fixed seed), the
    final results from `test_samples`."""

    name: str
    anneal: NonNegativeInt = 0
    val_samples: PositiveInt = 20_000
    test_samples: PositiveInt = 200_000

    def options(self) -> dict[str, Any]:
        """The target's constructor options."""
        return {n: getattr(self, n) for n in TARGETS[self.name].options}


class ModelConfig(Strict):
    """An architecture of the catalogue (`name`) and its builder's arguments."""

    name: str

    def options(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in type(self).model_fields if k != "name"}


SECTIONS: dict[str, tuple[Registry, type[Strict]]] = {
    "data": (DATASETS, DataConfig),
    "target": (TARGETS, TargetConfig),
    "model": (MODELS, ModelConfig),
}


def _field(parameter: inspect.Parameter, hint: Any) -> tuple[Any, Any]:
    if typing.get_origin(hint) is Sequence:  # YAML lists: hidden = [128, 128]
        hint = tuple[PositiveInt, ...]
    elif hint is int:  # counts: positive, or non-negative where 0 is the default
        hint = NonNegativeInt if parameter.default == 0 else PositiveInt
    default = ... if parameter.default is inspect.Parameter.empty else parameter.default
    return hint, default


@functools.cache
def _schema(section: str, entry: Any) -> type[Strict]:
    base = SECTIONS[section][1]
    hints = entry.hints()
    fields = {
        p.name: _field(p, hints[p.name])
        for p in entry.parameters()
        if p.name not in base.model_fields
    }
    title = "".join(part.capitalize() for part in entry.name.replace("-", " ").split())
    return create_model(f"{title}{section.capitalize()}Config", __base__=base, **fields)


def schema(section: str, name: str) -> type[Strict]:
    """The config class of `section` ("data", "target", "model") for entry `name`."""
    registry, _ = SECTIONS[section]
    return _schema(section, registry[name])


def _takes_none(cls: type[BaseModel], name: str) -> bool:
    field = cls.model_fields.get(name)
    return field is not None and type(None) in typing.get_args(field.annotation)


def _section(section: str, raw: dict[str, Any]) -> Strict:
    """One section validated by its entry's schema; ValueError with the one-line message.
    A null where the field takes none counts as unset (run directories of earlier versions
    wrote every option of every data set and target, null for "the loader's default")."""
    registry, _ = SECTIONS[section]
    if "name" not in raw:
        raise ValueError(f"{section}.name: missing; allowed: {', '.join(registry)}")
    name = raw["name"]
    if name not in registry:
        raise ValueError(
            f"{section}.name: unknown {registry.what} {name!r}; allowed: {', '.join(registry)}"
        )
    cls = schema(section, name)
    raw = {k: v for k, v in raw.items() if v is not None or _takes_none(cls, k)}
    try:
        return cls.model_validate(raw)
    except ValidationError as error:
        raise ValueError(_one_line(error, (section,), cls)) from None


class TrainConfig(Strict):
    """Maximum likelihood: `steps` updates on random minibatches (drawn with replacement
    from a seeded generator), Adam or AdamW, linear warm-up over `warmup` steps then a
    constant or cosine-annealed learning rate, gradient-norm clipping, validation every
    `eval_every` steps keeping the best weights, early stopping after `patience`
    evaluations without improvement, a checkpoint every `checkpoint_every` steps and, on
    long runs, whenever `checkpoint_minutes` have passed since the last (0: off), so a
    kill -9 loses at most that much work; SIGTERM or Ctrl-C stops after the current step
    with a checkpoint (bijective.train.preemption).
    The importance-weighted test figures of VAEs and of dequantized flows on discrete
    data use `importance_samples` draws per example. `device`: cpu, cuda, cuda:N or auto
    (CUDA when present). `threads`: torch's CPU threads while training; `auto` is 1 for
    models of vectors and, for image models, the cores other work is not using (see
    bijective.train.threads). `compile`: the training loss, and a density model's
    evaluation, through torch.compile; `auto` compiles each when the steps (evaluations)
    left would take eager code over 90 s (see bijective.train.compiled), and a
    compilation that fails falls back to eager code with one warning. `precision: bf16`
    runs the conditioner networks of the training loss in bfloat16 (bijective.nn.precision:
    transforms, inverses and log-dets stay float32; validation and results are float32)."""

    steps: PositiveInt = 2000
    batch: PositiveInt = 512
    lr: PositiveFloat = 1e-3
    optimizer: Literal["adam", "adamw"] = "adam"
    weight_decay: NonNegativeFloat = 0.0
    warmup: NonNegativeInt = 0
    schedule: Literal["constant", "cosine"] = "constant"
    clip: PositiveFloat | None = None
    eval_every: PositiveInt = 100
    patience: PositiveInt | None = None
    checkpoint_every: PositiveInt = 500
    checkpoint_minutes: NonNegativeFloat = 5.0
    eval_batch: PositiveInt = 4096
    max_skipped: PositiveInt = 50
    importance_samples: PositiveInt = 1000
    seed: int = 0
    device: str = "cpu"
    threads: PositiveInt | Literal["auto"] = "auto"
    compile: bool | Literal["auto"] = "auto"
    precision: Literal["fp32", "bf16"] = "fp32"

    @field_validator("device")
    @classmethod
    def _device_name(cls, device: str) -> str:
        if device != "auto":
            try:
                torch.device(device)
            except (RuntimeError, ValueError):
                raise ValueError(
                    f"expected auto, cpu, cuda or cuda:N (a torch device); got {device!r}"
                ) from None
        return device

    def low_precision(self) -> torch.dtype | None:
        """bfloat16 for `precision: bf16` (ConfigError on a GPU without it), else None."""
        if self.precision == "fp32":
            return None
        device = self.torch_device()
        if device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise ConfigError(
                f"train.precision: bf16 is not supported by {torch.cuda.get_device_name(device)}"
                " (it needs compute capability 8.0 or later); use fp32"
            )
        return torch.bfloat16

    def torch_device(self) -> torch.device:
        """The device to train on: `auto` is CUDA when present, else the CPU; a CUDA (or
        MPS) device this machine does not have is a ConfigError."""
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        device = torch.device(self.device)
        available = {"cuda": torch.cuda.is_available, "mps": torch.backends.mps.is_available}
        if device.type in available and not available[device.type]():
            raise ConfigError(
                f"train.device: {self.device} is not available on this machine; use cpu or auto"
            )
        if device.type == "cuda" and device.index is not None:
            if device.index >= torch.cuda.device_count():
                raise ConfigError(
                    f"train.device: {self.device}: this machine has "
                    f"{torch.cuda.device_count()} CUDA devices"
                )
        return device


_RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class Config(Strict):
    """`name` names the run directory (runs/NAME): letters, digits, '.', '_', '-', at most
    100, starting with a letter or digit, so a config cannot write outside runs/."""

    name: str
    data: SerializeAsAny[DataConfig] | None = None
    target: SerializeAsAny[TargetConfig] | None = None
    model: SerializeAsAny[ModelConfig]
    train: TrainConfig = TrainConfig()

    @field_validator("name")
    @classmethod
    def _safe_name(cls, name: str) -> str:
        if not _RUN_NAME.fullmatch(name):
            raise ValueError(
                "expected a run name of letters, digits, '.', '_' and '-' (at most 100, "
                f"starting with a letter or digit, no path separators); got {name!r}"
            )
        return name

    @model_validator(mode="before")
    @classmethod
    def _catalogue_sections(cls, raw: Any) -> Any:
        if isinstance(raw, dict):
            raw = {
                k: _section(k, v) if k in SECTIONS and isinstance(v, dict) else v
                for k, v in raw.items()
            }
        return raw

    @model_validator(mode="after")
    def _data_or_target(self) -> Config:
        if (self.data is None) == (self.target is None):
            raise ValueError(
                "data, target: give exactly one (data: fit a density to samples by maximum "
                "likelihood; target: fit a flow to an unnormalized density by reverse KL)"
            )
        return self


def _one_line(
    error: ValidationError, prefix: tuple[Any, ...] = (), cls: type[BaseModel] | None = None
) -> str:
    """The first error of a validation as one line; `prefix` and `cls` locate it when
    `cls` validated a section."""
    first = error.errors()[0]
    loc = prefix + tuple(first["loc"])
    where, kind = ".".join(str(p) for p in loc), first["type"]
    if kind == "extra_forbidden":
        if cls is None:
            cls = Config if len(loc) == 1 else TrainConfig
        return f"{where}: unknown field; allowed: {', '.join(cls.model_fields)}"
    message = first["msg"].removeprefix("Value error, ")
    if kind == "value_error":
        return f"{where}: {message}" if where else message
    return f"{where}: {message} (got {first['input']!r})"


# The image flows' number of scales was `levels` (which elsewhere counts the values of
# discrete data); configs and runs written with the old key still load, with a note.
SCALED = ("glow", "image-realnvp", "image-resflow")


def _renamed(raw: dict[str, Any], source: str) -> dict[str, Any]:
    """raw with an image flow's `model.levels` read as `model.scales` (one line says so)."""
    model = raw.get("model")
    if isinstance(model, dict) and model.get("name") in SCALED and "levels" in model:
        if "scales" in model:
            raise ConfigError(f"{source}: model.levels is the old name of model.scales; give one")
        print(
            f"bijective: note: {source}: model.levels is now model.scales (read as scales)",
            file=sys.stderr,
        )
        renamed = {("scales" if k == "levels" else k): v for k, v in model.items()}
        raw = {**raw, "model": renamed}
    return raw


def parse_config(raw: Any, source: str = "config") -> Config:
    """A Config from a mapping (parsed YAML); ConfigError names the first bad field."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping with name, data, model, train")
    raw = _renamed(raw, source)
    try:
        return Config.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(f"{source}: {_one_line(error)}") from None


def schema_summary() -> dict[str, dict[str, Any]]:
    """Every catalogue entry's config fields as JSON schema, by "section.name": a renamed or
    retyped builder argument shows here (tests pin it)."""
    summary = {}
    for section, (registry, _) in SECTIONS.items():
        for name in registry:
            properties = schema(section, name).model_json_schema()["properties"]
            summary[f"{section}.{name}"] = {
                k: {a: b for a, b in v.items() if a != "title"} for k, v in properties.items()
            }
    return summary
