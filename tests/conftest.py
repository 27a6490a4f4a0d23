import os

import pytest
from click.testing import CliRunner

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPECS = os.path.join(ROOT, "specs")
GOLDEN = os.path.join(ROOT, "tests", "golden")
FIXTURES = os.path.join(ROOT, "tests", "fixtures")


def spec_path(name: str) -> str:
    return os.path.join(SPECS, name)


class Result:
    """What a CLI call did: exit code, stdout, stderr (kept apart)."""

    def __init__(self, result):
        self.exit_code = result.exit_code
        self.stdout = result.stdout
        self.stderr = result.stderr
        self.stdout_bytes = result.stdout_bytes
        self.exception = result.exception


@pytest.fixture
def cli():
    """Run `seqcli ARGS` in-process; returns a Result."""
    from seqcli.cli import cli as command

    def invoke(*args, input=None):
        runner = CliRunner()
        return Result(runner.invoke(command, [str(a) for a in args], input=input))

    return invoke
