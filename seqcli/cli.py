"""The command line: parse options, call the library, echo the result.

Errors are mapped to one line and an exit status in one place (`SeqcliGroup.main`);
the statuses are named in `errors.Status`.
"""

from __future__ import annotations

import sys

import click

from seqcli import __version__
from seqcli.errors import SeqcliError, Status


# command -> the module that defines it, imported only when the command runs, so that
# `seqcli summary` loads neither the editing nor the training code
COMMAND_MODULES = {
    "summary": "seqcli.cli_model", "init": "seqcli.cli_model", "weights": "seqcli.cli_model",
    "run": "seqcli.cli_model", "extract": "seqcli.cli_model", "catalog": "seqcli.cli_model",
    "freeze": "seqcli.cli_edit", "unfreeze": "seqcli.cli_edit", "new": "seqcli.cli_edit",
    "add": "seqcli.cli_edit", "pop": "seqcli.cli_edit",
    "fit": "seqcli.cli_train", "evaluate": "seqcli.cli_train",
    "convert": "seqcli.cli_convert", "check": "seqcli.cli_calc", "plot": "seqcli.cli_plot",
    "diff": "seqcli.cli_calc", "explain": "seqcli.cli_calc", "adapt": "seqcli.cli_adapt",
}


class SeqcliGroup(click.Group):
    """A group whose errors end as one `seqcli: error:` line (traceback with --debug).

    A closed stdout (`seqcli run ... | head -1`) is click's to handle: it exits
    quietly with status 1, like other tools whose reader went away.
    """

    def list_commands(self, ctx):
        return sorted(COMMAND_MODULES)

    def resolve_command(self, ctx, args):
        name = args[0] if args else ""
        if name in COMMAND_MODULES or name.startswith("-"):
            return super().resolve_command(ctx, args)
        from seqcli.errors import did_you_mean
        raise click.UsageError(f"No such command {name!r}"
                               f"{did_you_mean(name, sorted(COMMAND_MODULES))}.", ctx)

    def get_command(self, ctx, name):
        if name in COMMAND_MODULES and name not in self.commands:
            import importlib
            importlib.import_module(COMMAND_MODULES[name])  # it registers its commands
        return super().get_command(ctx, name)

    def main(self, args=None, prog_name=None, **extra):
        args = list(sys.argv[1:] if args is None else args)
        args = _debug_first(args)
        debug = "--debug" in args
        if not debug:
            # numpy's overflow/invalid-value warnings: seqcli reports non-finite
            # values itself, in one line, where they matter
            import warnings
            warnings.simplefilter("ignore", RuntimeWarning)
        try:
            super().main(args=args, prog_name=prog_name or "seqcli", standalone_mode=False)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.exceptions.NoArgsIsHelpError as exc:  # bare `seqcli`: the help, as is
            click.echo(exc.ctx.get_help(), err=True)
            sys.exit(Status.USAGE)
        except click.UsageError as exc:
            _fail(exc.format_message(), Status.USAGE, debug, hint=_help_hint(exc))
        except click.ClickException as exc:
            _fail(exc.format_message(), exc.exit_code, debug)
        except SeqcliError as exc:
            _fail(str(exc), Status.FAILED, debug)
        except click.Abort as exc:  # click turns Ctrl-C (and EOF at a prompt) into Abort
            if isinstance(exc.__cause__, KeyboardInterrupt):
                _fail("interrupted", Status.INTERRUPTED, debug)
            _fail("aborted", Status.FAILED, debug)
        except KeyboardInterrupt:
            _fail("interrupted", Status.INTERRUPTED, debug)
        except Exception as exc:  # a bug: still one line, the traceback with --debug
            _fail(f"internal error: {type(exc).__name__}: {exc} (run with --debug for the "
                  "traceback, and please report it)", Status.FAILED, debug)
        sys.exit(Status.OK)


def _help_hint(exc: click.UsageError) -> str:
    ctx = exc.ctx
    return f" (see '{ctx.command_path} --help')" if ctx is not None else ""


def _debug_first(args: list) -> list:
    """`--debug` is a group option, but users put it anywhere (`seqcli run ... --debug`):
    move it before the command so click accepts it (not past a `--` separator)."""
    end = args.index("--") if "--" in args else len(args)
    if "--debug" not in args[:end]:
        return args
    rest = [arg for arg in args[:end] if arg != "--debug"]
    return ["--debug", *rest, *args[end:]]


def _fail(message: str, status: int, debug: bool, hint: str = "") -> None:
    if debug and sys.exc_info()[0] is not None:
        import traceback  # here: every command would pay ~1 ms importing it

        traceback.print_exc()
    one_line = " ".join(str(message).split())
    click.echo(f"seqcli: error: {one_line}{hint}", err=True)
    sys.exit(int(status))


@click.group(cls=SeqcliGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="seqcli")
@click.option("--debug", is_flag=True, help="Show the traceback of an error (for developers).")
def cli(debug):
    """Build, inspect and run Keras-style Sequential models, with numpy only.

    \b
    Example:
      seqcli summary specs/guide_cnn.yaml
    """


def main():
    cli.main()
