"""`seqcli summary --style keras3` prints exactly what Keras 3's model.summary() prints.

tests/golden/keras3/*.txt is Keras 3's own output, piped (no colour), with the
terminal width forced through COLUMNS (tests/fixtures/make_look.py); cases.json
says which spec, options and COLUMNS each file was made with.
"""

import json
import os

import pytest

from tests.conftest import GOLDEN, ROOT

KERAS3 = os.path.join(GOLDEN, "keras3")
with open(os.path.join(KERAS3, "cases.json"), encoding="utf-8") as _handle:
    _RECORDED = json.load(_handle)
    CASES = _RECORDED["cases"]


def read(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


@pytest.mark.parametrize("name", sorted(CASES))
def test_keras3_summary_equals_keras(cli, monkeypatch, name):
    case = CASES[name]
    monkeypatch.setenv("COLUMNS", str(case["columns"]))
    result = cli("summary", os.path.join(ROOT, case["spec"]), "--style", "keras3",
                 *case["options"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == read(os.path.join(KERAS3, name + ".txt"))


def test_every_golden_file_is_checked():
    files = {n[:-4] for n in os.listdir(KERAS3) if n.endswith(".txt")}
    assert files == set(CASES)


def test_width_rule_is_88_capped_at_the_terminal_less_4():
    from seqcli.summary_keras3 import default_line_length

    assert default_line_length(False, columns=200) == 88
    assert default_line_length(True, columns=200) == 100
    assert default_line_length(False, columns=80) == 76
    assert default_line_length(True, columns=60) == 56


def test_a_pipe_without_columns_gets_76(tmp_path):
    """Keras's fallback terminal is 80 columns when stdout is not a terminal."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    done = subprocess.run([sys.executable, "-m", "seqcli", "summary",
                           os.path.join(ROOT, "specs", "guide_cnn.yaml"), "--style", "keras3"],
                          capture_output=True, text=True, env=env, check=True)
    assert done.stdout == read(os.path.join(KERAS3, "guide_cnn_76.txt"))


def test_too_narrow_a_line_is_a_clear_error(cli):
    result = cli("summary", os.path.join(ROOT, "specs", "guide_cnn.yaml"), "--style", "keras3",
                 "--line-length", "10")
    assert result.exit_code == 1
    assert result.stderr.startswith("seqcli: error: --line-length: Insufficient console width")
    assert "--line-length" in result.stderr


@pytest.mark.parametrize("options", [["--format", "json"], ["--line-length", "80"]])
def test_keras3_options_need_the_text_style(cli, options):
    args = ["--style", "keras3"] if "--format" in options else []
    result = cli("summary", os.path.join(ROOT, "specs", "guide_cnn.yaml"), *args, *options)
    assert result.exit_code == 2
    assert "keras3" in result.stderr


def test_the_keras3_summary_imports_no_numpy():
    import subprocess
    import sys

    code = ("import sys; from seqcli.cli import main; sys.argv = ['seqcli', 'summary', "
            f"{os.path.join(ROOT, 'specs', 'guide_cnn.yaml')!r}, '--style', 'keras3'];\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "assert 'numpy' not in sys.modules, 'numpy imported'\n"
            "assert 'rich' not in sys.modules, 'rich imported'")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


with open(os.path.join(KERAS3, "rich_tables.json"), encoding="utf-8") as _handle:
    RICH_TABLES = json.load(_handle)["cases"]


@pytest.mark.parametrize("index", range(len(RICH_TABLES)))
def test_random_tables_equal_richs(index):
    """Seeded random cells (tabs, wide characters, brackets, backslashes, long words)
    laid out as rich lays out Keras's table, and the title as rich wraps it."""
    from seqcli import summary_keras3 as k3

    case = RICH_TABLES[index]
    trainable = case["show_trainable"]
    header = list(k3.HEADER) + (["Trainable"] if trainable else [])
    justify = list(k3.JUSTIFY) + (["center"] if trainable else [])
    body = [[k3.markup_plain(cell) for cell in row] for row in case["rows"]]
    lines = k3.wrap_paragraph(k3.markup_plain(case["title"]), case["line_length"] + 4)
    lines += k3.table_lines(header, justify, body,
                            k3.column_widths(case["line_length"], trainable))
    assert "\n".join(lines) + "\n" == case["text"]


def test_the_layers_keras_builds_at_init_are_kerass():
    """An unbuilt model's summary counts these "0" rather than "0 (unbuilt)"."""
    from seqcli.summary_keras3 import BUILT_AT_INIT

    assert BUILT_AT_INIT == set(_RECORDED["built_at_init"])


def test_the_readme_shows_real_keras3_output(cli, monkeypatch):
    """Every `--style keras3` example pasted in the README is what seqcli prints."""
    import re
    import shlex

    monkeypatch.setenv("COLUMNS", "80")  # the examples are piped: Keras's 80 columns
    monkeypatch.chdir(ROOT)
    readme = read(os.path.join(ROOT, "README.md"))
    blocks = re.findall(r"```\n\$ (seqcli summary [^\n]*--style keras3[^\n]*)\n(.*?)```",
                        readme, re.S)
    assert len(blocks) >= 3
    for command, shown in blocks:
        args = shlex.split(command.replace("| cat", ""))[1:]
        result = cli(*args)
        assert result.exit_code == 0, result.stderr
        assert result.stdout == shown, command
