"""The config schema of every catalogue entry, pinned: a renamed, retyped or re-defaulted
builder argument changes a config field, and must show up here (update the pin on purpose:
python -c "import json, bijective.train.config as C; print(json.dumps(C.schema_summary(),
indent=1, sort_keys=True))" > tests/train/schema.json)."""

from __future__ import annotations

import json
from pathlib import Path

from bijective.train.config import schema_summary

PIN = Path(__file__).with_name("schema.json")


def test_the_schema_of_every_catalogue_entry_is_as_pinned() -> None:
    pinned, now = json.loads(PIN.read_text()), schema_summary()
    assert sorted(now) == sorted(pinned)
    for key in pinned:
        assert now[key] == pinned[key], f"{key}: the config fields changed"
