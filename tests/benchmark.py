"""The performance benchmark: `make bench` (or `python -m tests.benchmark`).

Not a test (pytest collects only test_*.py) and not part of CI: it takes minutes and its
figures depend on the machine. It measures, on synthetic definitions of 1,000, 10,000 and
100,000 resources written into a temporary folder:

- the wall time of the whole `runbook build` process (the minimum of several runs) and its
  peak memory (ru_maxrss of that process);
- next to it, in the same run, the floor: a Python process that only loads the same file
  with PyYAML and libyaml (`yaml.load(f, Loader=yaml.CSafeLoader)`);
- the same build split by stage, measured inside a fresh process per run;
- the generated script's own cost per step: 1,000 steps of `true` run with `--yes`
  without a terminal (journal and log on), against a bash script running the same
  commands; and `--dry-run` of 10,000 steps.

It prints the figures and writes them to docs/benchmarks.md in a fixed layout, so that a
regression shows as a diff in git.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "docs" / "benchmarks.md"

SIZES = (1_000, 10_000, 100_000)
#: Runs per size (the minimum is kept): fewer for the big file, whose runs take long.
RUNS = {1_000: 7, 10_000: 5, 100_000: 3}
SCRIPT_STEPS = 1_000
DRY_RUN_STEPS = 10_000
MAX_FILE_MIB = 40

# The targets of issue 7.
TARGET_BUILD_OVER_FLOOR = 1.6  # at 10,000 resources
TARGET_REST_OVER_LOAD = 0.6  # validation + planning + both renderings, against loading
TARGET_GROWTH = 12.0  # 100,000 against 10,000
TARGET_MEMORY_OVER_FILE = 10.0
TARGET_STEP_OVERHEAD_MS = 5.0
TARGET_DRY_RUN_SECONDS = 10.0

FLOOR_CODE = "import sys, yaml; yaml.load(open(sys.argv[1], encoding='utf-8'), Loader=yaml.CSafeLoader)"
#: The same without Python's cyclic garbage collector, which walks every object built so far
#: again and again while a big document loads (the compiler turns it off; see compiler/cli.py).
FLOOR_NO_GC_CODE = "import gc; gc.disable(); " + FLOOR_CODE
#: What every floor process pays before it reads a byte: the interpreter and PyYAML.
STARTUP_CODE = "import sys, yaml"

STAGES = (
    ("import", "start-up and imports"),
    ("load", "load (read, parse, build values)"),
    ("schema", "schema (JSON Schema)"),
    ("semantics", "semantic checks"),
    ("plan", "model and plan"),
    ("markdown", "render Markdown"),
    ("script", "render script"),
    ("write", "write both files"),
)
#: What loading costs and what the issue asks to stay under 0.6 of it.
REST_STAGES = ("schema", "semantics", "plan", "markdown", "script")


# --- Synthetic definitions ----------------------------------------------------------------------

_SITES = (
    # name, title, role, host kinds, ssh user, port
    ("fra", "Frankfurt (Equinix FR5)", "primary", ("db", "app", "lb", "mq", "cache", "ceph"), "deploy", None),
    ("dub", "Dublin", "dr", ("db", "app", "lb", "mq", "cache", "ceph"), "deploy", 2222),
    ("ams", "Amsterdam (Digital Realty AMS1)", "dr", ("db", "app", "lb", "k8s"), "ops", None),
    ("lon", "London", "other", ("db", "app", "bastion"), None, 22),
    ("aws", "AWS eu-west-1 (Route 53, ECS)", "other", (), None, None),
    ("gcp", "GCP europe-west4 (backups)", "other", ("backup",), "backup", None),
)
_SERVICES = (
    "payments", "ledger", "checkout", "search", "catalog", "stock", "pricing", "auth",
    "notify", "settlement", "orders", "web", "reports", "fraud",
)
_VERBS = ("Restart", "Promote", "Fence", "Drain", "Start", "Stop", "Check", "Switch", "Resync", "Warm up")
_OBJECTS = (
    "the primary database", "the read replicas", "the message broker", "the cache cluster",
    "the load balancer pool", "the object store mirror", "the DNS records", "the worker queue",
)
_COMMANDS = (
    "systemctl restart {svc}.service && systemctl is-active --quiet {svc}.service && journalctl -u {svc} -n 5",
    "kubectl --context {site}-prod -n {svc} rollout restart deployment/{svc} --timeout=300s",
    "aws route53 change-resource-record-sets --hosted-zone-id Z0{n}QX --change-batch file:///etc/dr/{svc}.json",
    "pg_ctl promote -D /var/lib/postgresql/16/main && psql -Atc 'select pg_is_in_recovery()' | grep -qx f",
    "haproxy_ctl set server {svc}/{site}-app{k} state ready && echo 'show servers state' | socat stdio /run/haproxy.sock",
    "rabbitmqctl -n rabbit@{site}-mq1 await_startup && rabbitmqctl list_queues name messages | grep -q '^{svc} '",
    "rbd mirror image promote {svc}/data-{k} && rbd mirror image status {svc}/data-{k} | grep -q primary",
    "curl -fsS -X POST --max-time 20 -H 'Content-Type: application/json' https://deploy.{site}.example.net/api/v2/services/{svc}/restart?reason=dr-{n}",
)
_CHECKS = (
    "curl -fsS --max-time 5 https://{svc}.{site}.example.net/healthz | grep -q ok",
    "systemctl is-active --quiet {svc}.service",
    "psql -Atc 'select not pg_is_in_recovery()' | grep -qx t",
    "dig +short {svc}.example.net | grep -q '^10\\.{k}\\.'",
)
_PROSE = (
    "Only after the replication lag is confirmed below 60 seconds on the dashboard.",
    "Watch the error rate of the service while this runs; a short spike is expected.",
    "If the command hangs, the node is probably fenced already: check the PDU first.",
    "Customers see maintenance pages until this step is done; tell support when it starts.",
    "The old primary must stay stopped: two writable copies of the ledger lose payments.",
)


def generate(count: int, seed: int = 7) -> str:
    """A valid definition of `count` resources: about three dependencies each, across sites.

    Deterministic for a seed. Resources depend on earlier ones of the intended order (mostly
    recent ones, some far back, any site), and are declared in that order shuffled within
    small windows, so that the stable order has work to do.
    """
    rng = random.Random(seed)
    out = [
        "# Synthetic definition for the benchmark (tests/benchmark.py); not a real plan.\n",
        "version: 1\n",
        "plan:\n",
        f"  name: bench-{count}\n",
        f"  title: \"Synthetic plan of {count:,} resources across six sites\"\n",
        "  description: |\n",
        "    Generated for the benchmark. Fail over every service from Frankfurt to Dublin\n",
        "    and Amsterdam, with DNS in AWS and backups restored from GCP.\n",
        "  owner: Platform on-call\n",
        "  rto: 4h\n",
        "  rpo: 15m\n",
        "  prerequisites:\n",
        "    - Replication lag dashboard reachable from the DR site\n",
        "    - The incident commander has declared the disaster\n",
        "  abort: |\n",
        "    If the ledger cannot be promoted within 30 minutes, stay on Frankfurt read-only.\n",
        "  contacts:\n",
        "    - {role: DBA on call, name: Ana Silva, phone: \"+49 30 5550100\", email: dba@example.com}\n",
        "    - {role: Network on call, name: Liam Byrne, phone: \"+353 1 5550142\"}\n",
        "sites:\n",
    ]
    hosts: dict[str, list[str]] = {}
    for s, (name, title, role, kinds, user, port) in enumerate(_SITES):
        out += [f"  {name}:\n", f"    title: {title}\n", f"    role: {role}\n"]
        hosts[name] = []
        if kinds:
            out.append("    hosts:\n")
        for kind in kinds:
            for k in range(1, 3):
                host = f"{name}-{kind}{k}"
                hosts[name].append(host)
                fields = [f"address: 10.{s + 1}.{len(hosts[name])}.{10 + k}"]
                if user:
                    fields.append(f"user: {user}")
                if port:
                    fields.append(f"port: {port}")
                out.append(f"      {host}: {{{', '.join(fields)}}}\n")

    # The intended order is 0..count-1; dependencies point backwards in it.
    ids = [f"{rng.choice(_SERVICES)}-{rng.choice(('db', 'app', 'dns', 'mq', 'lb'))}-{i}" for i in range(count)]
    declared = list(range(count))
    for start in range(0, count, 8):  # declared order: the intended one, shuffled in windows
        if rng.random() < 0.3:
            window = declared[start : start + 8]
            rng.shuffle(window)
            declared[start : start + 8] = window

    out.append("resources:\n")
    for i in declared:
        site, _, _, _, _, _ = rng.choice(_SITES)
        svc = rng.choice(_SERVICES)
        n, k = rng.randrange(1000, 9999), rng.randrange(1, 9)
        title = f"{rng.choice(_VERBS)} {rng.choice(_OBJECTS)} of {svc} in {site} ({i})"
        lines = [f"  - id: {ids[i]}\n", f"    title: {title}\n", f"    site: {site}\n"]
        if hosts[site] and rng.random() < 0.75:
            lines.append(f"    host: {rng.choice(hosts[site])}\n")
        if rng.random() < 0.1:
            lines.append(f"    description: {_scalar(rng.choice(_PROSE))}\n")
        if rng.random() < 0.92:
            command = rng.choice(_COMMANDS).format(svc=svc, site=site, n=n, k=k)
            lines.append(f"    run: {_scalar(command)}\n")
            if rng.random() < 0.05:
                lines.append(f"    instructions: {_scalar(rng.choice(_PROSE))}\n")
        else:
            lines.append(f"    instructions: |\n      {rng.choice(_PROSE)}\n      {rng.choice(_PROSE)}\n")
        if rng.random() < 0.35:
            lines.append(f"    verify: {_scalar(rng.choice(_CHECKS).format(svc=svc, site=site, k=k))}\n")
            if rng.random() < 0.5:
                lines.append(f"    verify_timeout: {rng.choice((30, 60, 90, 120))}s\n")
        if rng.random() < 0.4:
            lines.append(f"    timeout: {rng.choice((1, 2, 5, 10, 15))}m\n")
        if rng.random() < 0.12:
            lines.append(f"    rollback: {_scalar(rng.choice(_PROSE))}\n")
        if rng.random() < 0.1:
            lines.append(f"    owner: {rng.choice(('DBA on call', 'Network on call', 'Payments team'))}\n")
        if rng.random() < 0.6:
            lines.append(f"    estimate: {rng.choice((30, 90, 120))}s\n" if rng.random() < 0.5 else f"    estimate: {rng.randrange(1, 20)}m\n")
        requires, after = _dependencies(rng, i)
        if requires:
            lines.append(f"    requires: [{', '.join(ids[d] for d in requires)}]\n")
        if after:
            lines.append(f"    after: [{', '.join(ids[d] for d in after)}]\n")
        out += lines
    return "".join(out)


def _dependencies(rng: random.Random, i: int) -> tuple[list[int], list[int]]:
    """About two `requires` and one `after` among the resources before `i` in the intended order."""
    wanted = rng.choice((1, 2, 2, 3, 3, 3, 4, 4)) + rng.choice((0, 0, 1, 1))
    chosen: list[int] = []
    for _ in range(min(wanted, i)):
        # Mostly a recent step (a chain of work), sometimes one far back (a shared prerequisite).
        d = i - 1 - min(int(rng.expovariate(1 / 12)), i - 1) if rng.random() < 0.8 else rng.randrange(i)
        if d not in chosen:
            chosen.append(d)
    cut = rng.randint(0, len(chosen))
    return chosen[:cut], chosen[cut:]


_PLAIN_UNSAFE_START = tuple("-?:,[]{}#&*!|>'\"%@`")


def _scalar(text: str) -> str:
    """`text` as a YAML scalar on one line: plain where YAML reads it back unchanged, else quoted."""
    if text.startswith(_PLAIN_UNSAFE_START) or ": " in text or " #" in text or text != text.strip():
        return "'" + text.replace("'", "''") + "'"
    return text


def generate_script_plan(count: int, timeout: str = "") -> str:
    """`count` steps whose command is `true`, each requiring the one before (for the runtime).

    With `timeout` (such as "1h"), every step has that time limit, which the script enforces.
    """
    out = [
        "version: 1\n",
        "plan:\n",
        f"  name: steps-{count}\n",
        f"  title: {count:,} steps of true\n",
        "sites:\n",
        "  here:\n",
        "    role: primary\n",
        "resources:\n",
    ]
    for i in range(1, count + 1):
        out.append(f"  - id: step-{i:05d}\n    title: Step {i} does nothing\n    site: here\n    run: 'true'\n")
        if timeout:
            out.append(f"    timeout: {timeout}\n")
        if i > 1:
            out.append(f"    requires: [step-{i - 1:05d}]\n")
    return "".join(out)


# --- Measuring processes -------------------------------------------------------------------------


@dataclass
class Run:
    """One process: wall time, peak memory and what it printed."""

    seconds: float
    maxrss_mb: float
    returncode: int
    stdout: str = ""
    stderr: str = ""


def run_process(argv: Sequence[str], *, cwd: Path | None = None, env: dict[str, str] | None = None) -> Run:
    """Run `argv` without a terminal; wall time and ru_maxrss of that process alone."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
            start_new_session=True,  # no controlling terminal: /dev/tty cannot be opened
        )
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Run(seconds, usage.ru_maxrss / 1024, proc.returncode,
                   out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace"))


def _checked(run: Run, what: str) -> Run:
    if run.returncode != 0:
        raise SystemExit(f"benchmark: {what} failed with exit status {run.returncode}:\n{run.stderr[-2000:]}")
    return run


def runbook_command() -> list[str]:
    """The installed `runbook` command next to this interpreter, as a user runs it."""
    script = Path(sys.executable).with_name("runbook")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "compiler"]


# --- The build, split by stage (in a child process: every run starts cold) -----------------------


def stage_child(definition: str, directory: str) -> None:
    """Run the pipeline once, stage by stage, and print the seconds of each as JSON."""
    started = time.perf_counter()
    gc.disable()  # as the runbook command runs (compiler/cli.py)
    from compiler.load import load_file
    from compiler.model import build_definition
    from compiler.output import write_outputs
    from compiler.pipeline import Output
    from compiler.plan import make_plan
    from compiler.render_markdown import render_markdown
    from compiler.render_script import render_script
    from compiler.schema import check_schema
    from compiler.validate import check_semantics

    times: dict[str, float] = {}
    mark = time.perf_counter()
    times["import"] = mark - started

    def timed(name: str, work: Callable[[], object]) -> object:
        nonlocal mark
        value = work()
        now = time.perf_counter()
        times[name] = now - mark
        mark = now
        return value

    doc = timed("load", lambda: load_file(definition))
    problems = timed("schema", lambda: check_schema(doc))  # type: ignore[arg-type]
    problems = [*problems, *timed("semantics", lambda: check_semantics(doc))]  # type: ignore[arg-type,misc]
    if problems:
        raise SystemExit(f"benchmark: the synthetic definition is invalid: {problems[:3]}")
    plan = timed("plan", lambda: make_plan(build_definition(doc)))  # type: ignore[arg-type]
    markdown = timed("markdown", lambda: render_markdown(plan))  # type: ignore[arg-type]
    script = timed("script", lambda: render_script(plan))  # type: ignore[arg-type]
    name = plan.info.name  # type: ignore[attr-defined]
    timed("write", lambda: write_outputs(directory, (
        Output(f"{name}.md", markdown), Output(f"{name}.sh", script, executable=True),  # type: ignore[arg-type]
    )))
    print(json.dumps(times))


def stages(definition: Path, directory: Path, runs: int) -> dict[str, float]:
    """The minimum of each stage over `runs` fresh processes."""
    best: dict[str, float] = {}
    for _ in range(runs):
        run = _checked(run_process(
            [sys.executable, "-m", "tests.benchmark", "--stage-child", str(definition), str(directory)], cwd=ROOT,
        ), "the stage measurement")
        for name, seconds in json.loads(run.stdout).items():
            best[name] = min(best.get(name, seconds), seconds)
    return best


# --- Results ---------------------------------------------------------------------------------------


@dataclass
class SizeResult:
    """Every figure for one size of definition."""

    resources: int
    file_bytes: int
    startup_s: float
    build: list[Run] = field(default_factory=list)
    floor: list[Run] = field(default_factory=list)
    floor_no_gc: list[Run] = field(default_factory=list)
    stages: dict[str, float] = field(default_factory=dict)

    @property
    def build_s(self) -> float:
        return min(r.seconds for r in self.build)

    @property
    def floor_s(self) -> float:
        return min(r.seconds for r in self.floor)

    @property
    def floor_no_gc_s(self) -> float:
        return min(r.seconds for r in self.floor_no_gc)

    @property
    def floor_load_s(self) -> float:
        """Loading alone, as the floor does it: the floor process less start-up."""
        return self.floor_s - self.startup_s

    @property
    def rest_s(self) -> float:
        """Validation, planning and both renderings: what the compiler adds to loading."""
        return sum(self.stages[s] for s in REST_STAGES)

    @property
    def build_mb(self) -> float:
        return statistics.median(r.maxrss_mb for r in self.build)

    @property
    def floor_mb(self) -> float:
        return statistics.median(r.maxrss_mb for r in self.floor)

    @property
    def file_mb(self) -> float:
        return self.file_bytes / 2**20



@dataclass
class ScriptResult:
    """The generated script's own cost."""

    steps: int
    yes: list[Run] = field(default_factory=list)
    timed: list[Run] = field(default_factory=list)  # the same steps, each with a timeout
    bare: list[Run] = field(default_factory=list)
    forks: list[Run] = field(default_factory=list)
    dry_run_steps: int = 0
    dry_run: list[Run] = field(default_factory=list)

    def per_step_ms(self, runs: list[Run]) -> float:
        return min(r.seconds for r in runs) / self.steps * 1000

    @property
    def overhead_ms(self) -> float:
        """Per step, against a bare script running the same commands (`true`, a builtin)."""
        return self.per_step_ms(self.yes) - self.per_step_ms(self.bare)

    @property
    def timed_overhead_ms(self) -> float:
        """Per step, for steps with a time limit, against `true`."""
        return self.per_step_ms(self.timed) - self.per_step_ms(self.bare)

    @property
    def overhead_over_fork_ms(self) -> float:
        """Per step, against a script that starts one process per step (`bash -c true`)."""
        return self.per_step_ms(self.yes) - self.per_step_ms(self.forks)


def measure_startup(runs: int) -> float:
    """The floor's fixed cost: start Python and import PyYAML (minimum of `runs`)."""
    return min(_checked(run_process([sys.executable, "-c", STARTUP_CODE]), "python").seconds for _ in range(runs))


def measure_size(count: int, folder: Path, runs: int, startup: float, log: Callable[[str], None]) -> SizeResult:
    definition = folder / f"bench-{count}.yaml"
    definition.write_text(generate(count), encoding="utf-8")
    size = definition.stat().st_size
    if size > MAX_FILE_MIB * 2**20:
        raise SystemExit(f"benchmark: the {count:,}-resource definition is {size:,} bytes, over {MAX_FILE_MIB} MiB")
    result = SizeResult(count, size, startup)
    out = folder / f"out-{count}"
    log(f"{count:>7,} resources, {size / 2**20:6.1f} MiB: {runs} runs of build and floor, interleaved")
    for _ in range(runs):  # interleaved, so that a busy moment of the machine hits both alike
        result.floor.append(_checked(run_process([sys.executable, "-c", FLOOR_CODE, str(definition)]), "the floor"))
        result.floor_no_gc.append(_checked(
            run_process([sys.executable, "-c", FLOOR_NO_GC_CODE, str(definition)]), "the floor without GC"
        ))
        result.build.append(_checked(run_process([*runbook_command(), "build", str(definition), "-o", str(out)]), "runbook build"))
    result.stages = stages(definition, out, runs)
    log(f"        build {result.build_s:7.2f} s   floor {result.floor_s:7.2f} s   ratio {result.build_s / result.floor_s:5.2f}"
        f"   floor without GC {result.floor_no_gc_s:7.2f} s   peak {result.build_mb:7.1f} MB")
    return result


def measure_script(folder: Path, runs: int, dry_run_definition: Path | None, log: Callable[[str], None]) -> ScriptResult:
    result = ScriptResult(SCRIPT_STEPS)
    scripts = []
    for kind, timeout in (("untimed", ""), ("timed", "1h")):
        plan_dir = folder / "script" / kind
        plan_dir.mkdir(parents=True)
        definition = plan_dir / "steps.yaml"
        definition.write_text(generate_script_plan(SCRIPT_STEPS, timeout), encoding="utf-8")
        _checked(run_process([*runbook_command(), "build", str(definition), "-o", str(plan_dir)]), "runbook build")
        scripts.append(plan_dir / f"steps-{SCRIPT_STEPS}.sh")
    bare = folder / "script" / "bare.sh"
    bare.write_text("#!/usr/bin/env bash\n" + "true\n" * SCRIPT_STEPS)
    forks = folder / "script" / "forks.sh"
    forks.write_text("#!/usr/bin/env bash\n" + "bash -c true\n" * SCRIPT_STEPS)
    log(f"script: {SCRIPT_STEPS:,} steps of `true` with --yes, without and with a timeout, {runs} runs")
    for _ in range(runs):
        for script, runs_of_kind in zip(scripts, (result.yes, result.timed)):
            for leftover in script.parent.glob(f"steps-{SCRIPT_STEPS}.[jl]*"):  # journal, lock, log: start afresh
                leftover.unlink()
            run = _checked(run_process([str(script), "--yes"], cwd=script.parent), "the script with --yes")
            if f"{SCRIPT_STEPS} of {SCRIPT_STEPS} steps finished" not in run.stdout:
                raise SystemExit(f"benchmark: the script did not finish every step:\n{run.stdout[-2000:]}")
            runs_of_kind.append(run)
        result.bare.append(_checked(run_process(["bash", str(bare)]), "the bare script"))
        result.forks.append(_checked(run_process(["bash", str(forks)]), "the forking script"))
    if dry_run_definition is not None:
        out = folder / "dry-run"
        _checked(run_process([*runbook_command(), "build", str(dry_run_definition), "-o", str(out)]), "runbook build")
        (dry_script,) = out.glob("*.sh")
        result.dry_run_steps = DRY_RUN_STEPS
        log(f"script: --dry-run of {DRY_RUN_STEPS:,} steps, {runs} runs")
        for _ in range(runs):
            result.dry_run.append(_checked(run_process([str(dry_script), "--dry-run"], cwd=out), "the dry run"))
    log(f"        {result.per_step_ms(result.yes):.2f} ms per step with --yes ({result.per_step_ms(result.timed):.2f} ms with "
        f"a timeout); bare {result.per_step_ms(result.bare):.3f} ms, bash -c {result.per_step_ms(result.forks):.2f} ms; "
        f"overhead {result.overhead_ms:.2f} ms ({result.timed_overhead_ms:.2f} ms with a timeout)")
    return result


# --- Report ----------------------------------------------------------------------------------------


def machine() -> list[tuple[str, str]]:
    """What the figures were measured on."""
    import jinja2
    import jsonschema  # noqa: F401 - imported for its version
    import yaml

    from importlib.metadata import version

    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "unknown"
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{kib / 2**20:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    try:
        from yaml import _yaml  # type: ignore[attr-defined]

        libyaml = _yaml.get_version_string()
    except ImportError:
        libyaml = "not available (pure-Python PyYAML)"
    bash = subprocess.run(["bash", "-c", "echo $BASH_VERSION"], capture_output=True, text=True).stdout.strip()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    return [
        ("Date", datetime.date.today().isoformat()),
        ("Commit", f"{commit or 'unknown'}{' with uncommitted changes' if dirty else ''}"),
        ("CPU", f"{cpu}, {os.cpu_count()} cores"),
        ("Memory", memory),
        ("OS", f"{platform.system()} {platform.release()}"),
        ("Python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("PyYAML / libyaml", f"{yaml.__version__} / {libyaml}"),
        ("jsonschema / Jinja2", f"{version('jsonschema')} / {jinja2.__version__}"),
        ("bash", bash),
    ]


def _verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def report(sizes: list[SizeResult], script: ScriptResult | None, runs_note: str) -> str:
    """The Markdown of docs/benchmarks.md (fixed layout: only the figures change)."""
    by_count = {s.resources: s for s in sizes}
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m tests.benchmark`); do not edit by hand. Run it again",
        "after a change that could make the compiler or the generated script slower, and commit",
        "the new figures with the change. The machine is shared: times are the minimum of several",
        f"runs ({runs_note}), memory the median.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in machine()),
        "",
        "## `runbook build`",
        "",
        "Synthetic definitions (`tests/benchmark.py`): six sites with 40 hosts, resources with",
        "titles of about 50 characters, commands of 80 to 150, some checks, time limits,",
        "estimates, rollbacks and descriptions, and about three dependencies each across sites.",
        "*Build*: the whole `runbook build FILE -o DIR` process. *Floor*: a Python process that",
        "only loads the same file with `yaml.load(f, Loader=yaml.CSafeLoader)`, measured in the",
        "same run; *without GC*: the same with Python's cyclic garbage collector turned off, as",
        "the compiler runs. Memory: peak resident size of the process (ru_maxrss).",
        "",
        "| Resources | File | Build | Floor | Build / floor | Floor without GC | Peak memory | Memory / file | Floor memory |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in sizes:
        lines.append(
            f"| {s.resources:,} | {s.file_mb:.1f} MiB | {s.build_s:.2f} s | {s.floor_s:.2f} s | "
            f"{s.build_s / s.floor_s:.2f} | {s.floor_no_gc_s:.2f} s | {s.build_mb:.0f} MB | "
            f"{s.build_mb / s.file_mb:.1f} | {s.floor_mb:.0f} MB |"
        )
    ten, hundred = by_count.get(10_000), by_count.get(100_000)
    if ten and hundred:
        lines += [
            "",
            f"From 10,000 to 100,000 resources the build takes {hundred.build_s / ten.build_s:.1f} times as long, "
            f"the floor {hundred.floor_s / ten.floor_s:.1f} times (without GC {hundred.floor_no_gc_s / ten.floor_no_gc_s:.1f}).",
        ]
    lines += [
        "",
        "### By stage",
        "",
        "Each stage timed inside a fresh process running the whole build (minimum of the runs).",
        f"The floor's loading is the floor process less the start-up of Python and PyYAML ({sizes[0].startup_s:.3f} s).",
        "",
        "| Stage | " + " | ".join(f"{s.resources:,}" for s in sizes) + " |",
        "|---|" + "---:|" * len(sizes),
    ]
    for key, label in STAGES:
        lines.append(f"| {label} | " + " | ".join(f"{s.stages[key]:.3f} s" for s in sizes) + " |")
    lines += [
        "| **all stages** | " + " | ".join(f"{sum(s.stages.values()):.3f} s" for s in sizes) + " |",
        "| validation + planning + renderings | " + " | ".join(f"{s.rest_s:.3f} s" for s in sizes) + " |",
        "| ... against the floor's loading | " + " | ".join(f"{s.rest_s / s.floor_load_s:.2f}" for s in sizes) + " |",
        "| ... against the build's own loading | " + " | ".join(f"{s.rest_s / s.stages['load']:.2f}" for s in sizes) + " |",
        "",
        "## Generated script",
        "",
    ]
    if script is not None:
        lines += [
            f"{script.steps:,} steps whose command is `true`, each requiring the one before, run with",
            "`--yes` without a terminal (journal and log written, output captured), against",
            f"bash scripts running the same {script.steps:,} commands: `true` (a builtin) and",
            "`bash -c true` (a process per step, as every step of the runbook gets).",
            "",
            "| | Whole run | Per step |",
            "|---|---:|---:|",
            f"| generated script, `--yes` | {min(r.seconds for r in script.yes):.2f} s | {script.per_step_ms(script.yes):.2f} ms |",
            f"| the same, every step with a `timeout` | {min(r.seconds for r in script.timed):.2f} s | {script.per_step_ms(script.timed):.2f} ms |",
            f"| bare script: `true` | {min(r.seconds for r in script.bare):.3f} s | {script.per_step_ms(script.bare):.3f} ms |",
            f"| bare script: `bash -c true` | {min(r.seconds for r in script.forks):.2f} s | {script.per_step_ms(script.forks):.2f} ms |",
            f"| **overhead** against `true` | | {script.overhead_ms:.2f} ms |",
            f"| **overhead** with a `timeout` | | {script.timed_overhead_ms:.2f} ms |",
            f"| overhead against `bash -c true` | | {script.overhead_over_fork_ms:.2f} ms |",
            "",
            "Each step runs in a process group of its own, started by one launcher process; the",
            "script itself enforces a step's time limit (no `timeout` program per step).",
        ]
        if script.dry_run:
            lines += [
                "",
                f"`--dry-run` of the {script.dry_run_steps:,}-resource synthetic plan: "
                f"{min(r.seconds for r in script.dry_run):.2f} s.",
            ]
    else:
        lines.append("Not measured in this run.")
    lines += ["", "## Targets (issue 7)", "", "| Target | Measured | |", "|---|---:|---|"]
    if ten:
        ratio = ten.build_s / ten.floor_s
        rest = ten.rest_s / ten.floor_load_s
        lines += [
            f"| 10,000 resources: build at most {TARGET_BUILD_OVER_FLOOR}x the floor | {ratio:.2f}x | {_verdict(ratio <= TARGET_BUILD_OVER_FLOOR)} |",
            f"| 10,000 resources: validation + planning + renderings at most {TARGET_REST_OVER_LOAD} of the floor's loading "
            f"| {rest:.2f} | {_verdict(rest <= TARGET_REST_OVER_LOAD)} |",
        ]
    if ten and hundred:
        growth = hundred.build_s / ten.build_s
        lines.append(f"| 100,000 resources: at most {TARGET_GROWTH:.0f}x the time of 10,000 | {growth:.1f}x | {_verdict(growth <= TARGET_GROWTH)} |")
    if hundred:
        memory = hundred.build_mb / hundred.file_mb
        lines.append(
            f"| 100,000 resources: peak memory at most {TARGET_MEMORY_OVER_FILE:.0f}x the file "
            f"| {memory:.1f}x | {_verdict(memory <= TARGET_MEMORY_OVER_FILE)} |"
        )
    if script is not None:
        lines.append(
            f"| script: at most {TARGET_STEP_OVERHEAD_MS:.0f} ms overhead per step with `--yes` "
            f"| {script.overhead_ms:.2f} ms | {_verdict(script.overhead_ms <= TARGET_STEP_OVERHEAD_MS)} |"
        )
        lines.append(
            f"| script: the same, every step with a `timeout` "
            f"| {script.timed_overhead_ms:.2f} ms | {_verdict(script.timed_overhead_ms <= TARGET_STEP_OVERHEAD_MS)} |"
        )
        if script.dry_run:
            seconds = min(r.seconds for r in script.dry_run)
            lines.append(
                f"| script: `--dry-run` of {script.dry_run_steps:,} steps under {TARGET_DRY_RUN_SECONDS:.0f} s "
                f"| {seconds:.2f} s | {_verdict(seconds < TARGET_DRY_RUN_SECONDS)} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmark", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(str(s) for s in SIZES),
                        help="resource counts, comma-separated (default: %(default)s)")
    parser.add_argument("--runs", type=int, default=0, help="runs per measurement (default: 7, 5 and 3 by size)")
    parser.add_argument("--no-script", action="store_true", help="skip the generated script's runtime")
    parser.add_argument("--no-write", action="store_true", help=f"print only; leave {REPORT.relative_to(ROOT)} alone")
    parser.add_argument("--generate", metavar="N", type=int, help="print the synthetic definition of N resources and exit")
    parser.add_argument("--stage-child", nargs=2, metavar=("FILE", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.stage_child:
        stage_child(*args.stage_child)
        return 0
    if args.generate is not None:
        sys.stdout.write(generate(args.generate))
        return 0
    counts = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]

    def log(text: str) -> None:
        print(text, flush=True)

    folder = Path(tempfile.mkdtemp(prefix="runbook-bench-"))
    try:
        startup = measure_startup(max(RUNS.values()))
        results = [measure_size(n, folder, args.runs or RUNS.get(n, 3), startup, log) for n in counts]
        script = None
        if not args.no_script:
            dry = folder / f"bench-{DRY_RUN_STEPS}.yaml"
            if not dry.exists():
                dry.write_text(generate(DRY_RUN_STEPS), encoding="utf-8")
            script = measure_script(folder, args.runs or 5, dry, log)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    runs_note = ", ".join(f"{args.runs or RUNS.get(n, 3)} for {n:,}" for n in counts)
    text = report(results, script, runs_note)
    print()
    print(text, end="")
    if not args.no_write and counts == list(SIZES):
        REPORT.parent.mkdir(exist_ok=True)
        REPORT.write_text(text, encoding="utf-8")
        print(f"\nwrote {REPORT.relative_to(ROOT)}")
    elif not args.no_write:
        print(f"\n{REPORT.relative_to(ROOT)} left alone: it records the full set of sizes only")
    return 0


if __name__ == "__main__":
    sys.exit(main())
