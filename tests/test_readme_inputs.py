"""Every file a README example reads exists in the repository (specs/, specs/examples/,
tests/fixtures/) or is made by an earlier line of the README, so every example can be
pasted in order from a clone (issue 16: `ones_1x4.npy`, `x.npy`, `images.npy`,
`typo.yaml` were read and made nowhere)."""

import os
import re
import shlex

import pytest

from tests.conftest import ROOT

WRITES = {"-o", "--output", "--weights-out", "--history", "--checkpoint", "--spec-out"}
DATA = (".npy", ".npz", ".yaml", ".yml", ".json", ".keras", ".h5", ".onnx", ".csv", "/")
# files the README shows in full for the reader to create (`$ cat predict.py`), or says
# to copy (`model.keras`), or a hostile example that is not meant to be made (`bad/`)
SHOWN = {"predict.py", "model.keras", "bad/"}


def commands():
    """The README's shell lines (`$ ...` and indented `python -c`), continuations joined."""
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    joined, pending = [], ""
    for line in lines:
        text = line.strip()
        if not pending and not (text.startswith("$ ") or text.startswith("python -c ")):
            continue
        pending += " " + text.removeprefix("$ ").rstrip("\\")
        if not text.endswith("\\"):
            joined.append(pending.strip())
            pending = ""
    return joined


def made_by(command: str) -> set:
    made = set(re.findall(r"np\.savez?\(\s*f?'([^'{]+)", command))
    made |= {f"{folder}/" for folder in re.findall(r"np\.save\(f'([^/']+)/", command)}
    made |= set(re.findall(r"mkdir (\S+)", command))
    words = split(command) if "python -c" not in command else []
    for before, word in zip(words, words[1:]):
        if before in WRITES or before == ">":
            made.add(word)
    return made


def read_by(command: str) -> list:
    if not command.startswith(("seqcli ", "cat ", "OPENBLAS_NUM_THREADS=1 seqcli ")):
        return []
    words = split(command.split("|")[0])
    return [word for before, word in zip(["", *words], words)
            if before not in WRITES and before != ">" and word.endswith(DATA)
            and not word.startswith("tcp:")]


def split(command: str) -> list:
    try:
        return shlex.split(command)
    except ValueError:  # an unbalanced quote in prose-like lines: words are enough
        return command.split()


def exists(word: str) -> bool:
    path = os.path.join(ROOT, word.replace("*.npy", ""))
    return os.path.exists(path)


def test_every_example_input_exists_or_is_made_first():
    made, missing = set(SHOWN), []
    for command in commands():
        for word in read_by(command):
            base = word.split("*")[0]
            known = base in made or word in made or base.rstrip("/") + "/" in made
            if not (known or exists(word)):
                missing.append((word, command[:80]))
        made |= made_by(command)
    assert not missing, missing


def test_the_check_reads_the_readme():
    found = commands()
    assert any("specs/examples/ones_1x4.npy" in c for c in found)
    assert any("np.save('images.npy'" in c for c in found)
    assert read_by("seqcli run m.yaml --input x.npy -o y.npy") == ["m.yaml", "x.npy"]


def shown_output(command: str) -> str:
    """The lines the README prints after `$ command`, up to the next command or block end."""
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    start = lines.index(f"$ {command}") + 1
    end = next(i for i in range(start, len(lines))
               if lines[i].startswith(("$ ", "```")))
    return "\n".join(lines[start:end])


@pytest.mark.parametrize("command", [
    "seqcli summary specs/guide_unbuilt.yaml --input specs/examples/ones_1x4.npy",
    "seqcli summary specs/examples/typo.yaml",
    "seqcli explain specs/examples/sequence.yaml conv1d",
    "seqcli explain specs/examples/sequence.yaml bidirectional",
    "seqcli diff specs/guide_cnn.yaml specs/examples/guide_cnn_wide.yaml",
])
def test_the_shipped_examples_print_what_the_readme_shows(cli, monkeypatch, command):
    monkeypatch.chdir(ROOT)
    result = cli(*shlex.split(command)[1:])
    printed = (result.stdout + result.stderr).rstrip("\n")
    assert printed == shown_output(command)


def test_the_guides_layers_run_on_the_shipped_ones(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    weights = str(tmp_path / "weights.npz")
    assert cli("init", "specs/guide_layers.yaml", "-o", weights, "--seed", "1").exit_code == 0
    command = "seqcli run specs/guide_layers.yaml --input specs/examples/ones_3x3.npy " \
              "--weights weights.npz"
    result = cli(*shlex.split(command.replace("weights.npz", weights))[1:])
    assert result.stdout.rstrip("\n") == shown_output(command)


def test_the_safety_examples_print_what_the_readme_shows(tmp_path):
    """The console block of the README's Safety section, run line by line in a shell."""
    import subprocess
    import sys

    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as handle:
        text = handle.read()
    block = text[text.index("  ```console\n", text.index("## Safety")):]
    block = block[len("  ```console\n"):block.index("  ```\n", 1)]
    steps, current = [], None
    for line in block.splitlines():
        line = line[2:]
        if line.startswith("$ "):
            current = [line[2:], []]
            steps.append(current)
        else:
            current[1].append(line)
    assert len(steps) >= 10
    seqcli = f"{sys.executable} -m seqcli"
    for command, shown in steps:
        run = command.replace("seqcli ", seqcli + " ")
        done = subprocess.run(["bash", "-c", run], cwd=tmp_path, capture_output=True,
                              text=True, env={**os.environ, "PYTHONPATH": ROOT})
        printed = (done.stderr + done.stdout).splitlines()
        printed = [line.rstrip() for line in printed if line.strip()]
        assert printed == [line.rstrip() for line in shown], command


def shown_lines(command: str) -> list:
    """The README's output of a `$ command` that may continue over `\\` lines."""
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"$ {command}"))
    while lines[start].endswith("\\"):
        start += 1
    end = next(i for i in range(start + 1, len(lines))
               if lines[i].startswith(("$ ", "```")))
    return lines[start + 1:end]


@pytest.mark.parametrize("command", [
    "seqcli summary model.keras",
    "seqcli run model.keras --input x.npy",
    "seqcli summary specs/guide_cnn.yaml --columns macs,flops,receptive_field",
    "seqcli summary specs/guide_cnn.yaml --format json | python -c",
    "seqcli diff specs/guide_cnn.yaml specs/examples/guide_cnn_wide.yaml --format json | python",
])
def test_the_coming_from_keras_and_cost_examples_print_what_the_readme_shows(tmp_path,
                                                                             command):
    """Run in a shell as pasted (the README's data line made first); an output shown up
    to `...` is compared up to there, every character, trailing blanks included."""
    import shutil
    import subprocess
    import sys

    shutil.copy(os.path.join(ROOT, "tests/fixtures/keras_files/mnist_convnet.keras"),
                tmp_path / "model.keras")
    os.symlink(os.path.join(ROOT, "specs"), tmp_path / "specs")
    made = next(c for c in commands() if c.startswith("python -c") and "'x.npy'" in c)
    full = next(c for c in commands() if c.startswith(command))
    env = {**os.environ, "PYTHONPATH": ROOT,
           "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}
    script = f"seqcli() {{ {sys.executable} -m seqcli \"$@\"; }}\n{made}\n{full}\n"
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True,
                          text=True, env=env)
    shown = shown_lines(command)
    printed = done.stdout.splitlines()
    if shown[-1] == "...":
        shown, printed = shown[:-1], printed[:len(shown) - 1]
    assert printed == shown, done.stderr


def test_a_shell_continuation_in_the_readme_is_one_backslash():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as handle:
        doubled = [line for line in handle if line.rstrip("\n").endswith("\\\\")]
    assert not doubled


def test_the_digits_training_examples_print_what_the_readme_shows(tmp_path):
    """The two console blocks of "Transfer learning: train and evaluate", run in order in
    a shell: every line as shown but the seconds an epoch took. (A change of Adam's
    rounding moved these numbers once and the README kept the old ones.)"""
    import re
    import subprocess
    import sys

    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as handle:
        text = handle.read()
    section = text[text.index("### Transfer learning: train and evaluate"):
                   text.index("`fit` takes the data as an `.npz`")]
    steps, current = [], None
    for block in section.split("```\n")[1::2]:
        lines = block.splitlines()
        for index, line in enumerate(lines):
            if line.startswith("$ "):
                current = [line[2:], []]
                steps.append(current)
            elif lines[index - 1].endswith("\\") and index > 0:
                current[0] = current[0].rstrip("\\") + " " + line.strip()
            else:
                current[1].append(line)
    assert len(steps) == 9
    os.symlink(os.path.join(ROOT, "specs"), tmp_path / "specs")
    env = {**os.environ, "PYTHONPATH": ROOT, "PYTHONUNBUFFERED": "1"}
    seconds = re.compile(r" - \d+\.\ds - ")
    for command, shown in steps:
        run = command.replace("seqcli ", f"{sys.executable} -m seqcli ") + " 2>&1"
        done = subprocess.run(["bash", "-c", run], cwd=tmp_path, capture_output=True,
                              text=True, env=env)
        printed = [seconds.sub(" - 0.0s - ", line) for line in done.stdout.splitlines()]
        assert printed == [seconds.sub(" - 0.0s - ", line) for line in shown], command
