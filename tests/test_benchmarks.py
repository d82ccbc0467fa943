"""The rules the benchmark tables are read by (benchmarks/compare.py, report.py): a ratio
whose range over runs holds 1.0 is "level", a missing peer is one line, and result files
carry the versions and machine but no absolute path."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"


def module(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    loaded = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec.loader.exec_module(loaded)
    finally:
        sys.path.remove(str(BENCHMARKS))
    return loaded


def test_a_ratio_is_a_lead_only_when_every_run_says_so():
    compare = module("compare")
    # peer / ours = 1.2 by the medians, but one peer run was faster than one of ours
    mid, low, high = compare.ratio([1.0, 1.0, 1.1], [1.2, 1.0, 1.3])
    assert mid == pytest.approx(1.2) and low == pytest.approx(1.0 / 1.1) and high == 1.3
    assert compare.verdict(low, high) == "level"
    assert "level" in compare.ratio_cell([1.0, 1.0, 1.1], [1.2, 1.0, 1.3])
    assert compare.verdict(*compare.ratio([1.0, 1.1], [1.2, 1.3])[1:]) == "bijective faster"
    assert compare.verdict(*compare.ratio([1.2, 1.3], [1.0, 1.1])[1:]) == "bijective slower"


def test_an_nll_is_better_only_when_the_seed_ranges_do_not_overlap():
    compare = module("compare")
    assert "level" in compare.lower_cell([1.10, 1.15], [1.12, 1.20])
    assert "bijective better" in compare.lower_cell([1.10, 1.11], [1.12, 1.20])
    assert "peer better" in compare.lower_cell([1.30, 1.31], [1.12, 1.20])


def test_a_missing_peer_is_one_line_naming_the_install(monkeypatch):
    compare = module("compare")
    with pytest.raises(SystemExit) as stop:
        compare.require("json", "no_such_peer_library")
    message = str(stop.value)
    assert "no_such_peer_library" in message and 'pip install -e ".[bench]"' in message
    assert "\n" not in message
    compare.require("json")  # present: nothing happens


def test_result_files_record_versions_and_no_absolute_path(tmp_path, monkeypatch):
    report = module("report")
    monkeypatch.setattr(report, "RESULTS", tmp_path)
    report.save("t", {"seeds": [0]}, [{"x": 1}], ["a"], [["1"]], "a note")
    meta = json.loads((tmp_path / "t.json").read_text())["meta"]
    assert meta["torch"] and meta["cpu"] and meta["threads"] >= 1
    assert meta["libraries"]["bijective"] is not None
    assert (tmp_path / "t.md").read_text() == "| a |\n|---|\n| 1 |\n\na note\n"
    for path in BENCHMARKS.glob("results/*.*"):
        if path.suffix in (".md", ".json", ".txt"):
            text = path.read_text()
            assert str(Path.home()) not in text and "/work/" not in text, path


def test_a_worker_that_fails_is_one_error_naming_it(tmp_path):
    compare = module("compare")
    script = tmp_path / "fails.py"
    script.write_text("raise SystemExit('no data here')\n")
    with pytest.raises(RuntimeError, match="no data here"):
        compare.in_process(str(script), "--worker")
    script.write_text("print('noise'); print('{\"a\": 1}')\n")
    assert compare.in_process(str(script)) == {"a": 1}
