"""The `runbook` command: parse arguments, run the pipeline, map errors to exit codes."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence

from compiler import __version__
from compiler.errors import UserError
from compiler.output import write_outputs
from compiler.pipeline import compile_file, render_outputs
from compiler.render_plan import plan_as_json, plan_as_text, summary_line

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_BUG = 3
EXIT_INTERRUPTED = 130

ISSUES_URL = "the runbook-compiler issue tracker"

_DESCRIPTION = """\
Compile a disaster-recovery plan written in YAML into a printable Markdown runbook
and a guarded bash script that asks before every step.

  runbook validate plan.yaml         check the definition, report every problem
  runbook plan plan.yaml             show the ordered steps, in waves
  runbook build plan.yaml -o out/    write out/<name>.md and out/<name>.sh
"""

_EPILOG = """\
exit status: 0 success, 1 invalid definition or unwritable output, 2 usage error,
3 internal error (a bug: please report it).
"""


def _definition_file(value: str) -> str:
    """The FILE argument: any path, but not an empty one (`runbook validate "$UNSET"`)."""
    if not value:
        raise argparse.ArgumentTypeError("must not be empty; pass the path of a definition file")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(
        prog="runbook",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"runbook-compiler {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    validate = commands.add_parser(
        "validate",
        help="check a definition and print a one-line summary",
        description="Check FILE against the schema and the semantic rules (unique ids, "
        "references, no dependency cycles). Every problem is printed as "
        "FILE:LINE:COL: error: MESSAGE.",
        epilog="exit status: 0 valid, 1 invalid, 2 usage error.",
    )
    validate.add_argument("file", metavar="FILE", type=_definition_file, help="the definition (YAML, version 1)")

    plan = commands.add_parser(
        "plan",
        help="print the ordered steps, grouped in waves",
        description="Print the steps of FILE in the order the script runs them, grouped in "
        "waves of steps that could run in parallel, with where each runs and what it waits for.",
        epilog="exit status: 0 success, 1 invalid definition, 2 usage error.",
    )
    plan.add_argument("file", metavar="FILE", type=_definition_file, help="the definition (YAML, version 1)")
    plan.add_argument(
        "--format", choices=("text", "json"), default="text",
        help="text for people (default) or json for tools",
    )

    build = commands.add_parser(
        "build",
        help="write the Markdown runbook and the bash script",
        description="Write DIR/<name>.md (the printable runbook) and DIR/<name>.sh (the "
        "guarded script), both from the same plan. Files are replaced atomically: on any "
        "error nothing is written and earlier outputs are left as they were.",
        epilog="exit status: 0 success, 1 invalid definition or unwritable DIR, 2 usage error.",
    )
    build.add_argument("file", metavar="FILE", help="the definition (YAML, version 1)")
    build.add_argument(
        "-o", "--output", metavar="DIR", default=".",
        help="directory to write into (created if missing; default: the current directory)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except UserError as exc:
        for diagnostic in exc.diagnostics:
            print(diagnostic.render(), file=sys.stderr)
        errors = len(exc.diagnostics)
        if errors > 1:
            print(f"{errors} errors", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("runbook: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # stdout closed early (`runbook plan x | head`): not an error of the plan.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - the last line of defence against tracebacks
        print(
            f"runbook: internal error: {type(exc).__name__}: {exc}\n"
            f"This is a bug in runbook-compiler {__version__}, not in your definition. "
            f"Please report it to {ISSUES_URL} with the definition that caused it. "
            "Set RUNBOOK_DEBUG=1 to see the traceback.",
            file=sys.stderr,
        )
        if os.environ.get("RUNBOOK_DEBUG"):
            traceback.print_exc()
        return EXIT_BUG


def _run(args: argparse.Namespace) -> int:
    plan = compile_file(args.file)
    if args.command == "validate":
        print(summary_line(plan, args.file))
    elif args.command == "plan":
        sys.stdout.write(plan_as_json(plan) if args.format == "json" else plan_as_text(plan))
    elif args.command == "build":
        written = write_outputs(args.output, render_outputs(plan))
        for path in written:
            print(f"wrote {path}")
    return EXIT_OK
