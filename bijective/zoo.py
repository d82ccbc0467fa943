"""bj.pretrained(name): models trained by the project's own committed configs
(configs/pretrained/NAME.yaml) and shipped inside the package, nothing downloaded.

Each lives in bijective/zoo_data/NAME/ as a bj.save folder (config.json, model.safetensors)
with card.json: the config it was trained with, its test figures (test_nll, and
test_bits_per_dim for discrete data) as the run measured them, its training seconds and
machine, and the SHA-256 of model.safetensors, which loading checks. `bj.pretrained`
returns the model in eval mode; `card(name)` the card; `NAMES` what there is. A
pretrained model samples in the units the model sees (see config.json's preprocessing:
`bijective sample pretrained:NAME` maps them back to the data's units).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from torch import nn

from .saving import WEIGHTS, SaveError, load

ZOO = Path(__file__).parent / "zoo_data"
CARD = "card.json"
NAMES = tuple(sorted(p.name for p in ZOO.iterdir() if (p / CARD).exists())) if ZOO.exists() else ()


def _folder(name: str) -> Path:
    if name not in NAMES:
        raise SaveError(f"no pretrained model {name!r}; there are: {', '.join(NAMES)}")
    return ZOO / name


def card(name: str) -> dict[str, Any]:
    """The card of pretrained model `name`: config, test figures, training time, sha256."""
    return json.loads((_folder(name) / CARD).read_text(encoding="utf-8"))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def open_pretrained(name: str) -> Any:
    """The experiment of pretrained model `name` (bijective.train's, built from its card's
    config, its data loaded) holding the pretrained weights: what `bijective sample
    pretrained:NAME` samples from, in the data's units."""
    from .train.checkpoint import load_weights
    from .train.config import parse_config
    from .train.run import build
    from .train.state import load_model_weights

    experiment = build(parse_config(card(name)["config"], f"pretrained:{name}"))
    weights = load_weights(_checked(name) / WEIGHTS)[0]
    load_model_weights(experiment.model, weights, f"pretrained:{name}")
    experiment.model.eval()
    return experiment


def _checked(name: str) -> Path:
    """The folder of pretrained model `name`, its weights file the one its card records."""
    folder = _folder(name)
    if sha256(folder / WEIGHTS) != card(name)["sha256"]:
        raise SaveError(f"{folder / WEIGHTS}: not the file its card records (SHA-256 differs)")
    return folder


def pretrained(name: str) -> nn.Module:
    """The pretrained model `name` (one of NAMES), its weights' SHA-256 checked against
    its card, in eval mode."""
    return load(_checked(name))
