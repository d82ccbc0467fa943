"""Config files: YAML read strictly (a key given twice is an error) into a mapping,
`--set a.b=value` overrides applied to it, then validated by bijective.train.config;
and a validated config written back as YAML (every field, defaults included).
"""

from __future__ import annotations

import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from .config import Config, ConfigError, parse_config


def apply_overrides(raw: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Each override `a.b.c=value` sets `raw["a"]["b"]["c"]` to the value parsed as YAML."""
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
        try:
            node[leaf] = yaml.safe_load(value)
        except yaml.YAMLError as error:
            problem = str(error).splitlines()[0]
            raise ConfigError(f"--set {override!r}: not a YAML value ({problem})") from None
    return raw


def read_config(path: str | Path) -> dict[str, Any]:
    """A YAML config file as a mapping, not yet validated; ConfigError (one line) for a
    missing or unreadable file, YAML that does not parse, or a key given twice."""
    path = Path(path)
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: a directory, not a config file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read ({error.strerror})") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping with name, data, model, train")
    return raw


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a mapping that gives one key twice (plain YAML keeps
    the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, typing.Hashable):
                break  # the base class reports an unhashable key
            if key in seen:
                raise yaml.YAMLError(
                    f"key {key!r} given twice (line {key_node.start_mark.line + 1})"
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> Config:
    """Reads a YAML config, applies `--set` overrides, and validates it."""
    return parse_config(apply_overrides(read_config(path), overrides), str(path))


def dump_config(config: Config) -> str:
    """The config as YAML (every field, defaults included)."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
