"""The ``tanas`` command.

Each module in this package adds its subcommands with ``register(subparsers)``; modules are discovered, so a stage's
commands live next to nothing but themselves. Handlers import the pipeline and the experiments when they run, not when
the parser is built, so ``tanas --help`` does not pay for NNI's and Lightning's imports. A handler returns an exit code (or None for 0). User errors
(:class:`~tanas_nni.core.errors.TanasError`) print one line and exit 2; no traceback.
"""
from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import warnings

from .. import __version__
from ..core.errors import EXIT_USAGE, TanasError
from ..core.plugins import load_plugins
from ..core.signals import run_stoppable
from ..core.progress import Event

__all__ = ["main", "build_parser", "print_event", "print_message"]


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own errors: one line, exit 2, like ours
        self.exit(EXIT_USAGE, f"tanas: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tanas", description="Task-Aware Neural Architecture Search for NNI 3.0.")
    parser.add_argument("--version", action="version", version=f"tanas-nni {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for mod in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        if not mod.startswith("_"):
            importlib.import_module(f"{__name__}.{mod}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    # First: a Ctrl-C, or the SIGTERM that `nnictl stop` sends, from here on ends with a line, not a traceback.
    return run_stoppable(lambda: _main(argv), "run the same command again to resume")


def _main(argv: list[str] | None) -> int:
    warnings.filterwarnings("ignore", message=".*is found to be not a nn.Module.*")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    try:
        load_plugins()  # before the parser, so that registered names are known to every subcommand
    except TanasError as e:
        print(f"tanas: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse's own errors (one line, exit 2) and --help: an exit code for in-process callers
        return int(e.code or 0)
    try:
        code = args.handler(args)
    except TanasError as e:
        print(f"tanas: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    return int(code or 0)


def add_common(p: argparse.ArgumentParser, dictionary: bool = True, data: bool = True) -> None:
    """Options most commands share: where the dictionary and the data are."""
    if dictionary:
        p.add_argument("--dictionary", "-d", metavar="DIR", default=os.environ.get("TANAS_DICTIONARY", "runs/dictionary"),
                       help="dictionary directory (default: $TANAS_DICTIONARY or runs/dictionary)")
    if data:
        p.add_argument("--data-dir", metavar="DIR", default=None,
                       help="data root (default: $TANAS_DATA_DIR, else ~/.cache/tanas-nni/datasets)")




def print_event(event: Event) -> None:
    """A progress event on stderr (the progress printer of every ``tanas`` command): a bar with the time left on a
    terminal, one line otherwise (see :mod:`._progress`)."""
    from ._progress import renderer

    renderer().event(event)


def print_message(text: str) -> None:
    """A plain-string progress line of the dictionary stages, rendered like :func:`print_event`."""
    from ._progress import renderer

    renderer().message(text)
