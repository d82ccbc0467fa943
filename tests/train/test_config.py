"""Configs: YAML validated into typed objects, one clear line per bad field."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import yaml
from runs import tiny

import bijective.train as T
from bijective.catalogue import MODELS
from bijective.data.text import FORTUNES_DIR

CONFIGS = sorted((Path(__file__).parents[2] / "configs").rglob("*.yaml"))
FIXTURE_FORTUNES = Path(__file__).parents[1] / "fixtures" / "fortunes"


def write(tmp_path: Path, raw) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_a_config_is_typed_defaulted_and_survives_a_yaml_round_trip(tmp_path) -> None:
    config = T.load_config(write(tmp_path, tiny()))
    assert config.model.hidden == (16, 16) and config.train.lr == 1e-3
    assert config.train.optimizer == "adam" and config.data.logit == 0.05
    again = T.load_config(write(tmp_path, yaml.safe_load(T.dump_config(config))))
    assert again == config


def test_overrides_set_nested_fields_parsed_as_yaml(tmp_path) -> None:
    path = write(tmp_path, tiny())
    config = T.load_config(
        path, ["train.lr=3e-4", "model.hidden=[8, 8, 8]", "data.conditional=true"]
    )
    assert config.train.lr == 3e-4 and config.model.hidden == (8, 8, 8) and config.data.conditional
    with pytest.raises(T.ConfigError, match="expected key=value"):
        T.load_config(path, ["train.lr"])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.stpes=3", "train.stpes: unknown field; allowed: steps, batch, lr"),
        ("model.bins=8", "model.bins: unknown field; allowed: name, transforms, hidden, residual"),
        ("model.name=glowy", "model.name: unknown architecture 'glowy'; allowed: maf, iaf, nsf"),
        ("train.lr=-1", "train.lr: Input should be greater than 0 (got -1)"),
        ("train.steps=many", "train.steps: Input should be a valid integer"),
        ("train.optimizer=sgd", "train.optimizer: Input should be 'adam' or 'adamw'"),
        ("model.hidden=[16, 0]", "model.hidden.1: Input should be greater than 0"),
        ("data.name=mnsit", "data.name: unknown data set 'mnsit'; allowed: moons"),
        ("data.data_dir=/x", "data.data_dir: unknown field; allowed: name, seed, standardise"),
        ("data.logit=0.5", "data.logit: Input should be less than 0.5"),
        ("extra=1", "extra: unknown field; allowed: name, data, target, model, train"),
    ],
)
def test_each_bad_field_is_one_line_naming_it(tmp_path, override: str, message: str) -> None:
    with pytest.raises(T.ConfigError) as caught:
        T.load_config(write(tmp_path, tiny()), [override])
    text = str(caught.value)
    assert "\n" not in text and message in text and text.startswith(str(tmp_path))


def test_unreadable_files_are_named(tmp_path) -> None:
    with pytest.raises(T.ConfigError, match="no such config file"):
        T.load_config(tmp_path / "absent.yaml")
    (tmp_path / "bad.yaml").write_text("name: [unclosed\n")
    with pytest.raises(T.ConfigError, match="not valid YAML"):
        T.load_config(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(T.ConfigError, match="expected a mapping"):
        T.load_config(tmp_path / "list.yaml")


def test_model_config_fields_are_the_builder_arguments_less_what_the_data_supply() -> None:
    for entry in MODELS.entries():
        arguments = set(inspect.signature(entry.build).parameters) - set(entry.from_data)
        assert set(T.schema("model", entry.name).model_fields) - {"name"} == arguments


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_every_shipped_config_validates_and_builds(path: Path) -> None:
    config = T.load_config(path)
    if config.data is not None and config.data.name == "fortunes" and not FORTUNES_DIR.exists():
        # Without Debian's `fortunes` package, the config builds on the test fixture files.
        config = T.load_config(path, [f"data.data_dir={FIXTURE_FORTUNES}"])
    assert config.name == path.stem
    if config.target is not None:
        features = getattr(config.target, "features", 2)
        assert T.build(config).model.event_shape == (features,)
        return
    if getattr(config.data, "data_dir", None) is None and config.data.name in (
        "power",
        "gas",
        "hepmass",
        "miniboone",
        "bsds300",
    ):
        pytest.skip("needs the MAF paper's files (validated above)")
    if (
        config.data.name == "fashion-mnist"
        and not Path("/usr/share/datasets/fashion-mnist").exists()
    ):
        pytest.skip("needs the Debian package dataset-fashion-mnist (validated above)")
    experiment = T.build(config)
    assert experiment.data.features > 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"noise": -1.0}, "data: data set 'moons': noise must be >= 0; got -1.0"),
        ({"name": "digits", "val_fraction": 1.5}, "data: split: val_fraction must lie in (0, 1)"),
        ({"name": "wine", "test_fraction": 0.0}, "data: split: test_fraction must lie in (0, 1)"),
    ],
)
def test_an_impossible_data_option_is_one_line_before_anything_is_written(data, message) -> None:
    raw = tiny(data=data)
    if data.get("name", "moons") != "moons":
        raw["data"] = {"name": data["name"]} | {k: v for k, v in data.items() if k != "name"}
    with pytest.raises(T.ConfigError) as caught:
        T.build(T.parse_config(raw))
    assert str(caught.value).startswith(message)


def test_an_image_flows_old_levels_key_loads_as_scales_with_a_note(capsys) -> None:
    """model.levels was the image flows' number of scales; configs and runs that say so
    still load, with one line on stderr, and giving both names is one clear error."""
    raw = {
        "name": "old-glow",
        "data": {"name": "digits"},
        "model": {"name": "glow", "levels": 1, "steps": 1, "channels": 8},
    }
    config = T.parse_config(raw)
    assert config.model.scales == 1 and "levels" not in config.model.model_dump()
    note = capsys.readouterr().err.strip()
    assert note.count("\n") == 0 and "model.levels is now model.scales" in note
    assert raw["model"]["levels"] == 1  # the caller's mapping is left as it was
    with pytest.raises(T.ConfigError, match="give one"):
        T.parse_config({**raw, "model": {**raw["model"], "scales": 1}})
