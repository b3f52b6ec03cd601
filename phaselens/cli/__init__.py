"""The `phaselens` command. Each subcommand is a module of this package with
``register(subparsers)``; user mistakes (`PhaseLensError`) print one line and exit 2; a run that diverged
(`NonFiniteError`, or Lens targets that failed) exits 1."""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from typing import NoReturn

from .._version import __version__
from ..errors import NonFiniteError, PhaseLensError


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors in two lines (the error, and where the options are), not the
    whole usage block; subcommands' parsers are of this class too."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\nsee '{self.prog} --help' for the options\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="phaselens", description="Feature visualization by MACO, and the Lens explorer.")
    parser.add_argument("--version", action="version", version=f"phaselens {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = []
    for info in pkgutil.iter_modules(__path__):
        mod = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(mod, "register"):
            modules.append(mod)
    for mod in sorted(modules, key=lambda m: getattr(m, "ORDER", 50)):
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:  # usage errors (2), --help and --version (0): a code, not an exit
        return done.code if isinstance(done.code, int) else 2
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe raises here, not in the interpreter's exit
        return code
    except PhaseLensError as err:
        print(f"phaselens {args.command}: error: {err}", file=sys.stderr)
        return 1 if isinstance(err, NonFiniteError) else 2
    except KeyboardInterrupt:
        print(f"phaselens {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`phaselens layers | head`): stop quietly, as Unix tools do.
        # Point stdout at devnull so the interpreter's final flush cannot raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
