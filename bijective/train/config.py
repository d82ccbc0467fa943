"""Experiment configs: YAML validated into typed, frozen objects.

A config has four parts: `name`, `data` (which set and how it is split and preprocessed)
or `target` (an unnormalized density to fit by variational inference), `model` (an
architecture of `bj.flows` and its constructor's arguments) and `train` (the
optimisation). A field that does not exist, a wrong type or an impossible value raises
ConfigError with one line naming the field and what is allowed.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    create_model,
    model_validator,
)

from .. import flows, models
from ..data import DATASETS
from ..targets import TARGETS

ARCHITECTURES: dict[str, type[flows.Flow]] = {
    "maf": flows.MAF,
    "iaf": flows.IAF,
    "nsf": flows.NSF,
    "realnvp": flows.RealNVP,
    "nice": flows.NICE,
    "planar": flows.PlanarFlow,
    "radial": flows.RadialFlow,
}


class ConfigError(ValueError):
    """A config that cannot be used: the message names the field and what is allowed."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(Strict):
    """Which data set, and its loader's options (`bijective list` shows each set's).
    Discrete sets (images) are dequantized uniformly; with `logit` set, the model sees
    logit(logit + (1 - 2 logit) y) of the dequantized y in [0, 1), log-det counted.
    Image flows (glow, image-realnvp) also take `dequantization` (uniform, or variational:
    a learned q(u | x), Flow++) and `n_bits` (fewer bits per pixel, as Glow's 5-bit runs);
    other models use uniform dequantization of all the bits."""

    name: str
    seed: int = 0
    data_dir: str | None = None
    n_train: PositiveInt | None = None
    n_val: PositiveInt | None = None
    n_test: PositiveInt | None = None
    noise: NonNegativeFloat | None = None
    val_fraction: Annotated[float, Field(gt=0, lt=1)] | None = None
    test_fraction: Annotated[float, Field(gt=0, lt=1)] | None = None
    standardise: bool = True
    logit: Annotated[float, Field(ge=0, lt=0.5)] | None = 0.05
    conditional: bool = False
    dequantization: Literal["uniform", "variational"] = "uniform"
    n_bits: PositiveInt | None = None

    @model_validator(mode="after")
    def _known_set_and_options(self) -> DataConfig:
        if self.name not in DATASETS:
            raise ValueError(
                f"name: unknown data set {self.name!r}; allowed: {', '.join(DATASETS)}"
            )
        accepted = DATASETS[self.name].options
        for option in self.loader_options(check=False):
            if option not in accepted and option != "seed":  # fixed-split sets ignore seed
                raise ValueError(
                    f"{option}: data set {self.name!r} has no such option; "
                    f"its options: {', '.join(accepted)}"
                )
        return self

    def loader_options(self, check: bool = True) -> dict[str, Any]:
        """The options given for the loader (those left unset keep its defaults)."""
        names = ("seed", "data_dir", "n_train", "n_val", "n_test", "noise")
        names += ("val_fraction", "test_fraction")
        options = {n: getattr(self, n) for n in names if getattr(self, n) is not None}
        if check:  # seed is universal but not every loader takes it (MAF sets are fixed)
            options = {k: v for k, v in options.items() if k in DATASETS[self.name].options}
        return options


class TargetConfig(Strict):
    """Variational inference: fit the flow q to the unnormalized density `name` (a
    bijective.targets built-in, with its options) by minimising E_q[log q - beta log p~]
    on train.batch samples per step. beta rises linearly from 0.01 to 1 over the first
    `anneal` steps (Rezende & Mohamed 2015, section 6.1); 0 means beta = 1 throughout.
    Validation reports the exact KL(q || p) from `val_samples` draws (a fixed seed), the
    final results from `test_samples`."""

    name: str
    features: PositiveInt | None = None
    curvature: float | None = None
    components: PositiveInt | None = None
    radius: PositiveFloat | None = None
    scale: PositiveFloat | None = None
    anneal: NonNegativeInt = 0
    val_samples: PositiveInt = 20_000
    test_samples: PositiveInt = 200_000

    @model_validator(mode="after")
    def _known_target_and_options(self) -> TargetConfig:
        if self.name not in TARGETS:
            raise ValueError(f"name: unknown target {self.name!r}; allowed: {', '.join(TARGETS)}")
        accepted = list(inspect.signature(TARGETS[self.name]).parameters)
        for option in self.options():
            if option not in accepted:
                raise ValueError(
                    f"{option}: target {self.name!r} has no such option; "
                    f"its options: {', '.join(accepted) or 'none'}"
                )
        return self

    def options(self) -> dict[str, Any]:
        """The target's constructor options that are set."""
        names = ("features", "curvature", "components", "radius", "scale")
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}


def _architecture_config(name: str, cls: type[flows.Flow]) -> type[Strict]:
    """A config class whose fields are the constructor arguments of `cls`, typed and
    defaulted as there, except features and context, which the data set fixes."""
    hints = typing.get_type_hints(cls.__init__)
    fields: dict[str, Any] = {"name": (Literal[name], ...)}
    for parameter in list(inspect.signature(cls.__init__).parameters.values())[1:]:
        if parameter.name in ("features", "context", "shape"):
            continue
        hint = hints[parameter.name]
        if typing.get_origin(hint) is Sequence:  # YAML lists: hidden = [128, 128]
            hint = tuple[PositiveInt, ...]
        elif hint is int:  # counts: positive, or non-negative where 0 is the default
            hint = NonNegativeInt if parameter.default == 0 else PositiveInt
        fields[parameter.name] = (hint, parameter.default)
    return create_model(f"{cls.__name__}Config", __base__=Strict, **fields)


MODEL_CONFIGS = {name: _architecture_config(name, cls) for name, cls in ARCHITECTURES.items()}
MODEL_CONFIGS["vae"] = _architecture_config("vae", models.VAE)  # fitted by the ELBO
# Multi-scale image flows on dequantized pixels (their first argument is the image shape).
IMAGE_ARCHITECTURES: dict[str, type[flows.Flow]] = {
    "glow": flows.Glow,
    "image-realnvp": flows.ImageRealNVP,
}
MODEL_CONFIGS |= {n: _architecture_config(n, c) for n, c in IMAGE_ARCHITECTURES.items()}
ModelConfig = Annotated[
    typing.Union[tuple(MODEL_CONFIGS.values())],  # noqa: UP007 (a union built at runtime)
    Field(discriminator="name"),
]


class TrainConfig(Strict):
    """Maximum likelihood: `steps` updates on random minibatches (drawn with replacement
    from a seeded generator), Adam or AdamW, linear warm-up over `warmup` steps then a
    constant or cosine-annealed learning rate, gradient-norm clipping, validation every
    `eval_every` steps keeping the best weights, early stopping after `patience`
    evaluations without improvement, a checkpoint every `checkpoint_every` steps.
    The importance-weighted test figures of VAEs and dequantized image flows use
    `importance_samples` draws per example."""

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
    eval_batch: PositiveInt = 4096
    max_skipped: PositiveInt = 50
    importance_samples: PositiveInt = 1000
    seed: int = 0
    device: str = "cpu"


class Config(Strict):
    name: str
    data: DataConfig | None = None
    target: TargetConfig | None = None
    model: ModelConfig
    train: TrainConfig = TrainConfig()

    @model_validator(mode="after")
    def _data_or_target(self) -> Config:
        if (self.data is None) == (self.target is None):
            raise ValueError(
                "data, target: give exactly one (data: fit a density to samples by maximum "
                "likelihood; target: fit a flow to an unnormalized density by reverse KL)"
            )
        return self


def _location(loc: tuple[Any, ...]) -> str:
    # A discriminated union puts the tag in the path (model.maf.bins): leave it out.
    tagged = len(loc) > 1 and loc[0] == "model"
    return ".".join(str(p) for i, p in enumerate(loc) if not (tagged and i == 1))


def _allowed_fields(loc: tuple[Any, ...]) -> str:
    """The fields of the section holding the unknown field at `loc`."""
    sections: dict[Any, type[BaseModel]] = {
        "data": DataConfig,
        "target": TargetConfig,
        "train": TrainConfig,
    }
    if len(loc) == 1:
        cls: type[BaseModel] = Config
    elif loc[0] == "model":
        cls = MODEL_CONFIGS[loc[1]]
    else:
        cls = sections[loc[0]]
    return ", ".join(cls.model_fields)


def _one_line(error: ValidationError) -> str:
    first = error.errors()[0]
    where, kind = _location(first["loc"]), first["type"]
    if kind == "extra_forbidden":
        return f"{where}: unknown field; allowed: {_allowed_fields(first['loc'])}"
    if kind == "union_tag_invalid":
        given = first["input"].get("name")
        return f"{where}.name: unknown architecture {given!r}; allowed: {', '.join(MODEL_CONFIGS)}"
    if kind == "union_tag_not_found":
        return f"{where}.name: missing; allowed: {', '.join(MODEL_CONFIGS)}"
    message = first["msg"].removeprefix("Value error, ")
    if kind == "value_error":
        return f"{where}.{message}" if where else message
    return f"{where}: {message} (got {first['input']!r})"


def parse_config(raw: Any, source: str = "config") -> Config:
    """A Config from a mapping (parsed YAML); ConfigError names the first bad field."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping with name, data, model, train")
    try:
        return Config.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(f"{source}: {_one_line(error)}") from None


def apply_overrides(raw: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Each override `a.b.c=value` sets raw[a][b][c] to value parsed as YAML."""
    for override in overrides:
        key, sep, value = override.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {override!r}: expected key=value, e.g. train.steps=500")
        node = raw
        *parents, leaf = key.split(".")
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--set {key}: {part} is not a section")
            node = child
        node[leaf] = yaml.safe_load(value)
    return raw


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> Config:
    """Reads a YAML config, applies `--set` overrides, and validates it."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from None
    return parse_config(apply_overrides(raw if raw is not None else {}, overrides), str(path))


def dump_config(config: Config) -> str:
    """The config as YAML (every field, defaults included)."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
