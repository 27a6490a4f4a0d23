"""Keras JSON nested deeper than Python's JSON decoder goes is a clean one-line error,
not an internal RecursionError; nesting within it reads."""

from __future__ import annotations

DENSE = '{"module": "keras.layers", "class_name": "Dense", "config": {"units": 2}}'


def nested(depth: int) -> str:
    text = DENSE
    for level in range(depth):
        text = ('{"module": "keras", "class_name": "Sequential", "config": '
                f'{{"name": "s{level}", "layers": [{text}]}}}}')
    return text


def test_deep_keras_json_is_one_clean_line(cli, tmp_path):
    (tmp_path / "deep.json").write_text(nested(2000))
    result = cli("summary", tmp_path / "deep.json")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"seqcli: error: {tmp_path / 'deep.json'}: the document is nested too deeply to read"]


def test_nesting_keras_writes_reads(cli, tmp_path):
    (tmp_path / "nested.json").write_text(nested(50))
    result = cli("summary", tmp_path / "nested.json", "--input-shape", "3")
    assert result.exit_code == 0, result.stderr
    assert "s48 (Sequential)" in result.stdout and "Total params: 8" in result.stdout
