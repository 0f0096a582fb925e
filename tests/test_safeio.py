"""safeio: atomic replacement never leaves a half-written file; JSONL readers drop only a cut last line."""
import json

import pytest

import safeio


def test_atomic_write_replaces_whole_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "x.json"
    safeio.write_json_atomic(path, {"a": 1})
    safeio.write_json_atomic(path, {"b": [1, 2]})
    assert json.loads(path.read_text()) == {"b": [1, 2]}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.json"]


def test_jsonl_round_trip_and_cut_last_line(tmp_path):
    path = tmp_path / "log.jsonl"
    for i in range(3):
        safeio.append_jsonl(path, {"i": i})
    with open(path, "a") as f:
        f.write('{"i": 3, "par')  # a kill in the middle of the fourth append
    assert [r["i"] for r in safeio.read_jsonl(path)] == [0, 1, 2]
    assert safeio.repair_jsonl(path) == len('{"i": 3, "par')
    assert safeio.repair_jsonl(path) == 0
    safeio.append_jsonl(path, {"i": 3})
    assert [r["i"] for r in safeio.read_jsonl(path)] == [0, 1, 2, 3]


def test_corrupt_middle_line_is_an_error_naming_the_line(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text('{"i": 0}\nnot json\n{"i": 2}\n')
    with pytest.raises(ValueError, match=r"log.jsonl: line 2 is not valid JSON"):
        safeio.read_jsonl(path)


def test_missing_file_reads_as_empty(tmp_path):
    assert safeio.read_jsonl(tmp_path / "none.jsonl") == []
    assert safeio.repair_jsonl(tmp_path / "none.jsonl") == 0
