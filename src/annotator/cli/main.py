"""Entry point of the `annotator` console script: dispatch to a sub-command, turn errors into exit codes.

Exit 0 on success, 2 on bad usage or bad input (one line on stderr naming the file and the problem),
1 on any other failure. Sub-command modules import heavy libraries (torch, Qt) inside `run` only.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
import warnings
from typing import NoReturn

from annotator.io.errors import DatasetError

# name -> module; each module defines add_parser(subparsers) and run(args) -> int.
COMMANDS = {
    "open": "annotator.cli.open_cmd",
    "info": "annotator.cli.info_cmd",
    "convert": "annotator.cli.convert_cmd",
    "prelabel": "annotator.cli.prelabel_cmd",
    "eval": "annotator.cli.eval_cmd",
    "train": "annotator.cli.train_cmd",
    "segment-boxes": "annotator.cli.segment_boxes_cmd",
    "rank": "annotator.cli.rank_cmd",
    "audit": "annotator.cli.audit_cmd",
}


class UsageError(Exception):
    """Bad arguments that argparse could not catch; exit 2."""


class _OneLineParser(argparse.ArgumentParser):
    """argparse's refusals as one stderr line like every other refusal (it prints the usage block first);
    `--help` still shows the usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="annotator", description="Build and check instance-segmentation datasets.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMANDS.values():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help")):
        argv.insert(0, "open")  # `annotator [PATH]` opens the GUI
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with warnings.catch_warnings():
            if not os.environ.get("ANNOTATOR_DEBUG"):  # numpy's notes on hostile numbers are not for people
                warnings.simplefilter("ignore", RuntimeWarning)
            return int(args.run(args) or 0)
    except (DatasetError, UsageError) as exc:
        print(f"annotator {args.command}: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`annotator info x.json | head`): stop quietly, as a killed pipe writer does.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        print(f"annotator {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the last line of defence: one line, a traceback only when asked
        if os.environ.get("ANNOTATOR_DEBUG"):
            traceback.print_exc()
        print(f"annotator {args.command}: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    # Run the imported module, not this `__main__` copy: commands raise `annotator.cli.main.UsageError`,
    # which must be the class `main` catches.
    from annotator.cli.main import main as _main

    sys.exit(_main())
