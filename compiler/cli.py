"""The `runbook` command: parse arguments, run the pipeline, map errors to exit codes."""

from __future__ import annotations

import argparse
import gc
import os
import signal
import sys
import traceback
from collections.abc import Callable, Sequence

from compiler import __version__
from compiler.check import check_outputs
from compiler.check import diagnostics as check_diagnostics
from compiler.check import summary as check_summary
from compiler.diff import diff_plans
from compiler.errors import UserError
from compiler.output import write_outputs
from compiler.pipeline import compile_file, render_outputs
from compiler.render_diff import diff_as_json, diff_as_markdown, diff_as_text
from compiler.render_plan import plan_as_json, plan_as_text, summary_line
from compiler.sources import read_plan

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
  runbook check plan.yaml -o out/    check that out/<name>.md and out/<name>.sh are up to date
  runbook diff HEAD~1:plan.yaml plan.yaml
                                     what the last commit changed in the plan, step by step
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


def _output_directory(value: str) -> str:
    """The -o DIR argument: not empty (`-o "$UNSET"` must not mean the current directory)."""
    if not value:
        raise argparse.ArgumentTypeError("must not be empty; pass a directory, for example -o build/")
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
    validate.add_argument(
        "files", metavar="FILE", nargs="+", type=_definition_file,
        help="the definition (YAML, version 1); several may be given, each is checked",
    )

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
        "-o", "--output", metavar="DIR", default=".", type=_output_directory,
        help="directory to write into (created if missing; default: the current directory)",
    )

    check = commands.add_parser(
        "check",
        help="check that the built runbook and script are up to date",
        description="Check that DIR/<name>.md and DIR/<name>.sh are byte for byte what "
        "`runbook build FILE -o DIR` would write now, and that the script is executable. "
        "Nothing is written. Each stale or missing file is named with the command that "
        "builds it again. Several FILEs may be given (as a pre-commit hook passes them); "
        "every one is checked.",
        epilog="exit status: 0 every output up to date, 1 an output is stale or missing or "
        "a definition is invalid, 2 usage error.",
    )
    check.add_argument(
        "files", metavar="FILE", nargs="+", type=_definition_file,
        help="the definition (YAML, version 1)",
    )
    check.add_argument(
        "-o", "--output", metavar="DIR", default=".", type=_output_directory,
        help="directory the outputs were built into (default: the current directory)",
    )

    diff = commands.add_parser(
        "diff",
        help="compare two versions of a definition, step by step",
        description="Compare two versions of a definition as plans: fingerprints, steps "
        "added and removed, steps whose place in the order changed and why, steps moved to "
        "another site or host, changed commands, checks, time limits and rollbacks, manual "
        "steps that became automated and the reverse, and the estimated critical path. "
        "OLD and NEW are each a file, or REV:PATH to read PATH as it is in the git revision "
        "REV of the repository of the current directory (e.g. HEAD~1:runbooks/x.yaml; "
        "PATH is relative to the top of the repository, ./PATH to the current directory). "
        "Steps are matched by id.",
        epilog="exit status: 0 compared (differences or not), 1 with --exit-code when the "
        "plans differ, with --fail-on-order-change when steps present in both run in "
        "another order, or when a definition is invalid or cannot be read; 2 usage error.",
    )
    diff.add_argument("old", metavar="OLD", type=_definition_file, help="the old version: FILE or REV:PATH")
    diff.add_argument("new", metavar="NEW", type=_definition_file, help="the new version: FILE or REV:PATH")
    diff.add_argument(
        "--format", choices=("text", "markdown", "json"), default="text",
        help="text for a terminal (default), markdown for a pull-request comment, json for tools",
    )
    diff.add_argument(
        "--exit-code", action="store_true",
        help="exit 1 when the plans differ in any way",
    )
    diff.add_argument(
        "--fail-on-order-change", action="store_true",
        help="exit 1 when steps present in both versions run in a different order "
        "(steps added or removed alone do not count)",
    )
    return parser


class _Stopped(BaseException):
    """TERM or HUP arrived (a cancelled CI job, a closed terminal): stop as Ctrl-C does."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _stop(signum: int, _frame: object) -> None:
    raise _Stopped(signum)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    collecting = gc.isenabled()
    # A run builds a few objects per value of the definition and frees them by reference
    # counting. The cyclic collector would only walk the ever larger heap again and again:
    # two thirds of the time to load 10,000 resources (docs/benchmarks.md).
    gc.disable()
    # TERM and HUP unwind like Ctrl-C, so that a build removes its temporary files
    # instead of dying with them (only KILL can leave one behind).
    handlers = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        return _run(args)
    except _Stopped as stop:
        print(f"runbook: stopped by {signal.Signals(stop.signum).name}", file=sys.stderr)
        return 128 + stop.signum
    except UserError as exc:
        _report(exc)
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
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        if collecting:
            gc.enable()


def _report(exc: UserError) -> None:
    """Every problem of one error, then how many when there are several."""
    for diagnostic in exc.diagnostics:
        print(diagnostic.render(), file=sys.stderr)
    errors = len(exc.diagnostics)
    if errors > 1:
        print(f"{errors} errors", file=sys.stderr)


def _run(args: argparse.Namespace) -> int:
    if args.command == "validate":
        return _for_each(args.files, _validate_one, args)
    if args.command == "check":
        return _for_each(args.files, _check_one, args)
    if args.command == "diff":
        return _diff(args)
    plan = compile_file(args.file)
    if args.command == "plan":
        sys.stdout.write(plan_as_json(plan) if args.format == "json" else plan_as_text(plan))
    elif args.command == "build":
        written = write_outputs(args.output, render_outputs(plan), keep=[args.file])
        for path in written:
            print(f"wrote {path}")
    return EXIT_OK


def _for_each(files: Sequence[str], one: Callable[[str, argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run `one` on every file, reporting each file's problems; the worst exit status wins."""
    status = EXIT_OK
    for file in files:
        try:
            status = max(status, one(file, args))
        except UserError as exc:
            _report(exc)
            status = max(status, exc.exit_code)
    return status


def _validate_one(file: str, args: argparse.Namespace) -> int:
    print(summary_line(compile_file(file), file))
    return EXIT_OK


def _check_one(file: str, args: argparse.Namespace) -> int:
    result = check_outputs(compile_file(file), file, args.output)
    if result.up_to_date:
        print(check_summary(result))
        return EXIT_OK
    for diagnostic in check_diagnostics(result):
        print(diagnostic.render(), file=sys.stderr)
    return EXIT_INVALID


def _diff(args: argparse.Namespace) -> int:
    plans = []
    for spec in (args.old, args.new):  # both sides, so that every problem is reported at once
        try:
            plans.append(read_plan(spec))
        except UserError as exc:
            _report(exc)
    if len(plans) < 2:
        return EXIT_INVALID
    old, new = plans
    result = diff_plans(old, new, args.old, args.new)
    render = {"text": diff_as_text, "markdown": diff_as_markdown, "json": diff_as_json}[args.format]
    sys.stdout.write(render(result))
    if args.exit_code and not result.identical:
        return EXIT_INVALID
    if args.fail_on_order_change and result.order_changed:
        return EXIT_INVALID
    return EXIT_OK
