"""The generated script's memory: journal, resume, interruption, lock, audit log, options."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time

import pexpect
import pytest

from tests.scriptrun import PROMPT, build, finish, local_plan, run_without_terminal, spawn, wait_gone

STEPS = local_plan("""
- id: one
  title: Step one
  site: a
  run: echo one >> ran
- id: slow
  title: A long step
  site: a
  run: echo started > slow.started; [ -e fast ] || sleep 30; echo slow >> ran
  requires: [one]
- id: three
  title: Step three
  site: a
  run: echo three >> ran
  requires: [slow]
""")


FAST_STEPS = STEPS.replace("[ -e fast ] || sleep 30", "true")


def wait_for(path, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_no_terminal_without_yes_refuses_and_runs_nothing(tmp_path):
    built = build(tmp_path, STEPS)
    result = run_without_terminal(built)
    assert result.returncode == 2
    assert "no terminal to ask for confirmation" in result.stderr
    assert "add --yes" in result.stderr
    assert not (tmp_path / "ran").exists()
    assert not built.journal.exists()


def test_piped_answers_cannot_confirm_a_step(tmp_path):
    built = build(tmp_path, STEPS)
    result = subprocess.run(
        [str(built.script)], cwd=tmp_path, input="y\ny\ny\n", capture_output=True, text=True,
        timeout=30, start_new_session=True,
    )
    assert result.returncode == 2
    assert not (tmp_path / "ran").exists()


def test_yes_runs_everything_unattended(tmp_path):
    built = build(tmp_path, FAST_STEPS)
    result = run_without_terminal(built, "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "ran").read_text() == "one\nslow\nthree\n"
    assert "3 of 3 steps finished" in result.stdout


def test_yes_stops_at_the_first_failure_with_exit_1(tmp_path):
    built = build(tmp_path, local_plan("""
    - id: ok
      title: Fine
      site: a
      run: "true"
    - id: bad
      title: Breaks
      site: a
      run: exit 7
      rollback: Restore the snapshot.
    - id: later
      title: Never reached
      site: a
      run: touch later.out
    """))
    result = run_without_terminal(built, "--yes")
    assert result.returncode == 1
    assert "The command failed with exit status 7." in result.stdout
    assert "Restore the snapshot." in result.stdout
    assert "a failed step stops an unattended run" in result.stdout
    assert not (tmp_path / "later.out").exists()
    assert built.ends() == [("ok", "done"), ("bad", "failed")]


def test_sigkill_mid_step_then_resume_offers_only_the_interrupted_step(tmp_path):
    built = build(tmp_path, STEPS)
    child = spawn(built)
    child.expect(PROMPT)
    child.sendline("a")
    wait_for(tmp_path / "slow.started")
    child.kill(signal.SIGKILL)
    child.close()
    # The orphaned step is still running in its own process group: a new run must not
    # start it again concurrently.
    starts = [f for f in built.journal_lines() if f[0] == "START" and f[4] == "slow"]
    pgid = int(starts[-1][6])
    assert built.ends() == [("one", "done")], "the killed step is never recorded as done"
    result = run_without_terminal(built, "--yes", "--rerun-interrupted")
    assert result.returncode == 1
    assert "may still be running" in result.stdout
    os.killpg(pgid, signal.SIGKILL)
    assert wait_gone(pgid, group=True)

    child = spawn(built)
    child.expect("Resuming: 1 of 3 steps are already finished")
    child.expect("Step 2/3: slow")
    child.expect("was started at .* but never finished: its outcome is unknown")
    child.expect(PROMPT)
    child.sendline("q")
    assert finish(child) == 4
    assert (tmp_path / "ran").read_text() == "one\n", "step one was not run again"


def test_ctrl_c_mid_step_stops_it_and_records_it_as_interrupted(tmp_path):
    built = build(tmp_path, STEPS)
    child = spawn(built)
    child.expect(PROMPT)
    child.sendline("a")
    wait_for(tmp_path / "slow.started")
    started = time.monotonic()
    child.sendintr()
    child.expect("Ctrl-C received.")
    child.expect("Stopping step 2")
    assert finish(child) == 130
    assert time.monotonic() - started < 8, "the step is stopped at once, not left to finish"
    assert built.ends() == [("one", "done"), ("slow", "interrupted")]
    assert not (tmp_path / "ran").read_text().count("slow")

    # Unattended, an interrupted step stops the run before it...
    result = run_without_terminal(built, "--yes")
    assert result.returncode == 1
    assert "Stopping before step 2: its earlier run was interrupted" in result.stdout
    assert "--rerun-interrupted" in result.stdout
    # ...unless the operator said it may run again.
    (tmp_path / "fast").touch()
    result = run_without_terminal(built, "--yes", "--rerun-interrupted")
    assert result.returncode == 0, result.stdout
    assert (tmp_path / "ran").read_text() == "one\nslow\nthree\n"


def test_sigterm_and_sighup_behave_like_ctrl_c(tmp_path):
    for sig, status in ((signal.SIGTERM, 143), (signal.SIGHUP, 129)):
        folder = tmp_path / sig.name
        folder.mkdir()
        built = build(folder, STEPS)
        child = spawn(built)
        child.expect(PROMPT)
        child.sendline("a")
        wait_for(folder / "slow.started")
        child.kill(sig)
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == status or child.signalstatus == sig
        assert ("slow", "interrupted") in built.ends()
        assert ("slow", "done") not in built.ends()


def test_journal_of_another_plan_version_is_refused_until_reset(tmp_path):
    built = build(tmp_path, FAST_STEPS)
    assert run_without_terminal(built, "--yes").returncode == 0
    changed = build(tmp_path, FAST_STEPS.replace("echo three", "echo THREE"))
    result = run_without_terminal(changed, "--yes")
    assert result.returncode == 3
    assert "was written by a different version of this plan" in result.stderr
    assert "--reset" in result.stderr
    result = run_without_terminal(changed, "--yes", "--reset")
    assert result.returncode == 0, result.stderr
    assert "The old journal is kept as" in result.stdout
    kept = [p for p in tmp_path.iterdir() if ".journal.reset-" in p.name]
    assert len(kept) == 1
    assert (tmp_path / "ran").read_text().endswith("THREE\n")


def test_journal_edited_by_hand_is_refused(tmp_path):
    built = build(tmp_path, FAST_STEPS)
    assert run_without_terminal(built, "--yes").returncode == 0
    original = built.journal.read_text()
    lines = original.splitlines(keepends=True)

    built.journal.write_text("".join(lines[:3] + lines[4:]))  # a line removed
    result = run_without_terminal(built, "--yes")
    assert result.returncode == 3 and "is damaged at line 4 (events missing or out of order)" in result.stderr

    flipped = original.replace("\tdone\t", "\tfailed\t", 1)  # a plausible edit
    built.journal.write_text(flipped)
    result = run_without_terminal(built, "--list")
    assert result.returncode == 3
    assert "checksum mismatch: edited by hand?" in result.stderr
    assert "--reset" in result.stderr

    built.journal.write_text(original.replace("\t", "    ", 3))
    assert run_without_terminal(built, "--list").returncode == 3

    built.journal.write_text("some other file\n")
    result = run_without_terminal(built, "--yes")
    assert result.returncode == 3 and "is not a journal of this plan" in result.stderr
    assert not (tmp_path / "ran").read_text().count("one\none")


def test_last_line_cut_short_is_dropped_and_the_step_counts_as_interrupted(tmp_path):
    built = build(tmp_path, FAST_STEPS)
    assert run_without_terminal(built, "--yes").returncode == 0
    lines = built.journal.read_text().splitlines(keepends=True)
    # Keep everything up to step three's END (without the final RUN line), cut in the middle.
    end_three = max(i for i, line in enumerate(lines) if line.startswith("END") and "\tthree\t" in line)
    built.journal.write_text("".join(lines[:end_three]) + lines[end_three][:12])
    result = run_without_terminal(built, "--list")
    assert result.returncode == 0
    assert "last line was cut short" in result.stderr
    assert re.search(r"^3  interrupted\s+three", result.stdout, re.M)

    result = run_without_terminal(built, "--yes", "--rerun-interrupted")
    assert result.returncode == 0, result.stdout + result.stderr
    assert run_without_terminal(built, "--list").stderr == "", "the repaired journal reads cleanly"
    assert built.ends()[-1] == ("three", "done")


def test_full_disk_stops_with_a_clear_message_and_a_journal_that_stays_true(tmp_path):
    steps = "\n".join(
        f"- {{id: s{i}, title: Step {i}, site: a, run: echo {i} >> ran}}" for i in range(1, 41)
    )
    built = build(tmp_path, local_plan(steps))
    # A 2 KiB file-size limit stands in for a full disk: writes past it fail.
    result = subprocess.run(
        ["bash", "-c", 'ulimit -f 2; exec "$0" --yes --log /dev/null', str(built.script)],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, start_new_session=True,
    )
    assert result.returncode == 1
    assert "cannot write the journal" in result.stderr
    assert "stopping so that it stays true" in result.stderr
    ran = (tmp_path / "ran").read_text().split()
    listing = run_without_terminal(built, "--list")
    assert listing.returncode == 0, listing.stderr
    done = [line.split()[2] for line in listing.stdout.splitlines()[2:] if line.split()[1] == "done"]
    # Every step the journal calls done really ran; at most the last one ran unrecorded.
    assert set(done) <= {f"s{i}" for i in ran}
    assert len(ran) - len(done) <= 1

    result = run_without_terminal(built, "--yes", "--rerun-interrupted", "--log", "/dev/full")
    assert result.returncode == 1
    assert "cannot write the log /dev/full" in result.stderr


def test_second_concurrent_run_is_refused(tmp_path):
    built = build(tmp_path, STEPS)
    child = spawn(built)
    child.expect(PROMPT)
    result = run_without_terminal(built, "--yes")
    assert result.returncode == 75
    assert "Another run of this plan is in progress" in result.stderr
    assert "pid " in result.stderr
    child.sendline("q")
    assert finish(child) == 4
    assert not (tmp_path / "ran").exists()


def test_dry_run_shows_every_step_and_runs_nothing(tmp_path):
    built = build(tmp_path, STEPS)
    result = run_without_terminal(built, "--dry-run")
    assert result.returncode == 0
    for number, step_id in ((1, "one"), (2, "slow"), (3, "three")):
        assert f"Step {number}/3: {step_id}" in result.stdout
    assert "echo started > slow.started; [ -e fast ] || sleep 30; echo slow >> ran" in result.stdout
    assert not (tmp_path / "ran").exists()
    assert not built.journal.exists()
    assert not built.log.exists()


def test_list_shows_status_from_the_journal(tmp_path):
    built = build(tmp_path, FAST_STEPS)
    assert run_without_terminal(built, "--yes", "--skip", "three").returncode == 0
    result = run_without_terminal(built, "--list")
    assert result.returncode == 0
    rows = [line.split() for line in result.stdout.splitlines()[2:]]
    assert [row[:3] for row in rows] == [["1", "done", "one"], ["2", "done", "slow"], ["3", "skipped", "three"]]


def test_from_only_and_skip_select_steps_by_number_or_id(tmp_path):
    built = build(tmp_path, FAST_STEPS)
    result = run_without_terminal(built, "--yes", "--only", "three")
    assert result.returncode == 0
    assert "it requires step 2 slow, which is not done (pending)" in result.stdout
    assert (tmp_path / "ran").read_text() == "three\n"
    result = run_without_terminal(built, "--yes", "--from", "slow")
    assert result.returncode == 0
    assert (tmp_path / "ran").read_text() == "three\nslow\n", "step 3 is finished: not run again"
    assert [status for _, status in built.ends()] == ["done", "done"]

    fresh = tmp_path / "fresh"
    fresh.mkdir()
    built = build(fresh, FAST_STEPS)
    result = run_without_terminal(built, "--yes", "--skip", "2", "--skip", "one")
    assert result.returncode == 1, "a step blocked by a skipped requirement is not done"
    assert built.ends() == [("one", "skipped")]
    assert "Step 2/3: slow is blocked: it requires step 1 one, which is skipped." in result.stdout
    assert "Step 3/3: three is blocked: it requires step 2 slow, which is blocked." in result.stdout
    result = run_without_terminal(built, "--yes", "--only", "nope")
    assert result.returncode == 2
    assert "no step with the id 'nope'" in result.stderr
    result = run_without_terminal(built, "--yes", "--from", "9")
    assert result.returncode == 2
    assert "steps are numbered 1 to 3" in result.stderr


def test_usage_errors_exit_2_and_help_exits_0(tmp_path):
    built = build(tmp_path, STEPS)
    result = run_without_terminal(built, "--bogus")
    assert result.returncode == 2 and "unknown option: --bogus" in result.stderr
    result = run_without_terminal(built, "--journal")
    assert result.returncode == 2 and "--journal needs a value" in result.stderr
    result = run_without_terminal(built, "-h")
    assert result.returncode == 0
    for option in ("--yes", "--dry-run", "--list", "--from", "--only", "--skip", "--journal",
                   "--log", "--reset", "--rerun-interrupted"):
        assert option in result.stdout


def test_journal_and_log_options_choose_the_files(tmp_path):
    built = build(tmp_path, FAST_STEPS)
    state = tmp_path / "state"
    state.mkdir()
    result = run_without_terminal(
        built, "--yes", "--journal", str(state / "j"), f"--log={state / 'l'}",
    )
    assert result.returncode == 0, result.stderr
    assert (state / "j").read_text().startswith("# runbook-journal 1\tplan=drill\tfingerprint=")
    assert "EXIT step 3: 0" in (state / "l").read_text()
    assert not built.journal.exists()


def test_audit_log_holds_every_answer_exit_code_and_timestamp(tmp_path):
    built = build(tmp_path, local_plan("""
    - id: good
      title: Good
      site: a
      run: echo visible-output
    - id: bad
      title: Bad
      site: a
      run: exit 5
    """))
    child = spawn(built)
    child.expect(PROMPT)
    child.sendline("")
    child.expect(PROMPT)
    child.sendline("y")
    child.expect(PROMPT)
    child.sendline("y")
    child.expect(r"\[r\] retry")
    child.sendline("s")
    assert finish(child) == 0
    log = built.log.read_text()
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}"
    user = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    assert re.search(rf"^{stamp} \[{user}\] START drill fingerprint [0-9a-f]{{64}}", log, re.M)
    for expected in (
        "ASK step 1: [y] run   [s] skip   [a] run this and all remaining without asking   [q] quit:",
        "ANSWER step 1: (empty), asked again",
        "ANSWER step 1: y (run)",
        "OUT step 1: visible-output",
        "EXIT step 1: 0 (succeeded)",
        "ANSWER step 2: y (run)",
        "EXIT step 2: 5 (failed with exit status 5)",
        "ANSWER step 2: s (skip)",
        "STATUS step 2 bad: skipped",
        "END exit status 0",
    ):
        assert re.search(rf"^{stamp} \[{user}\] {re.escape(expected)}", log, re.M), expected


def test_timeout_kills_the_step_and_the_children_it_left_in_the_background(tmp_path):
    built = build(tmp_path, local_plan("""
    - id: spawner
      title: Starts a child and hangs
      site: a
      run: (exec sleep 100) & echo $! > child.pid; sleep 100
      timeout: 1s
    """))
    result = run_without_terminal(built, "--yes")
    assert result.returncode == 1
    assert "The command timed out." in result.stdout
    pid = int((tmp_path / "child.pid").read_text())
    assert wait_gone(pid, timeout=15), "the background child outlived the step's timeout"


@pytest.mark.parametrize("limit", ["", "  timeout: 1h\n"], ids=["no-timeout", "timeout"])
def test_a_step_runs_in_a_process_group_of_its_own_named_by_its_start(tmp_path, limit):
    # With a time limit `timeout` makes the group; without one, the script does.
    built = build(tmp_path, local_plan(f"""
    - id: group
      title: Records its process group
      site: a
      run: cut -d " " -f 5 /proc/$$/stat > pgid.out
    {limit}"""))
    result = run_without_terminal(built, "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    pgid = int((tmp_path / "pgid.out").read_text())
    (start,) = [f for f in built.journal_lines() if f[0] == "START"]
    assert int(start[6]) == pgid, "START names the group the command ran in"
    assert pgid not in (os.getpgrp(), os.getpid())


@pytest.mark.parametrize("limit", ["", "  timeout: 1h\n"], ids=["no-timeout", "timeout"])
def test_ctrl_c_mid_step_stops_the_children_it_started_too(tmp_path, limit):
    built = build(tmp_path, local_plan(f"""
    - id: spawner
      title: Starts a child, then waits
      site: a
      run: (exec sleep 100) & echo $! > child.pid; touch spawner.started; sleep 100
    {limit}"""))
    child = spawn(built)
    child.expect(PROMPT)
    child.sendline("y")
    wait_for(tmp_path / "spawner.started")
    started = time.monotonic()
    child.sendintr()
    assert finish(child) == 130
    assert time.monotonic() - started < 8, "TERM reached the whole group: no wait for the KILL"
    pid = int((tmp_path / "child.pid").read_text())
    assert wait_gone(pid, timeout=5), "the background child outlived the interrupted step"
    assert built.ends() == [("spawner", "interrupted")]


def test_second_ctrl_c_kills_a_step_that_ignores_term_at_once(tmp_path):
    built = build(tmp_path, local_plan("""
    - id: stubborn
      title: Ignores TERM
      site: a
      run: trap '' TERM; touch stubborn.started; sleep 60
    """))
    child = spawn(built)
    child.expect(PROMPT)
    child.sendline("y")
    wait_for(tmp_path / "stubborn.started")
    child.sendintr()
    child.expect("press Ctrl-C again to kill it now")
    started = time.monotonic()
    child.sendintr()
    assert finish(child) == 130
    assert time.monotonic() - started < 5, "the second Ctrl-C does not wait for the grace period"
    assert built.ends() == [("stubborn", "interrupted")]


def test_a_misspelt_option_gets_a_suggestion(tmp_path):
    built = build(tmp_path, FAST_STEPS)
    result = run_without_terminal(built, "--dryrun")
    assert result.returncode == 2
    assert "unknown option: --dryrun; did you mean --dry-run?" in result.stderr


def test_a_failing_line_in_a_multi_line_command_fails_the_step(tmp_path):
    built = build(tmp_path, local_plan("""
    - id: multi
      title: Two lines
      site: a
      run: |
        false
        echo the last line succeeds > last.out
    """))
    result = run_without_terminal(built, "--yes")
    assert result.returncode == 1
    assert "The command failed with exit status 1." in result.stdout
    assert not (tmp_path / "last.out").exists()


def test_a_step_that_ignores_term_at_its_timeout_is_killed_after_the_grace_time(tmp_path):
    built = build(tmp_path, local_plan("""
    - id: stubborn
      title: Ignores TERM and overruns
      site: a
      run: trap '' TERM; echo $$ > stubborn.pid; sleep 60
      timeout: 1s
    """))
    started = time.monotonic()
    result = run_without_terminal(built, "--yes")
    took = time.monotonic() - started
    assert result.returncode == 1
    assert "The command killed after timing out (it ignored TERM)." in result.stdout
    assert built.ends() == [("stubborn", "failed")]
    (end,) = [f for f in built.journal_lines() if f[0] == "END"]
    assert end[6] == "137"
    log = built.log.read_text()
    assert "TIMEOUT step 1: sent TERM to process group" in log
    assert "TIMEOUT step 1: sent KILL to process group" in log
    assert 1 + 9 <= took < 1 + 10 + 10, "TERM at the limit, KILL ten seconds later"
    assert wait_gone(int((tmp_path / "stubborn.pid").read_text()), timeout=5)


def test_a_check_that_hangs_is_stopped_when_its_time_is_up(tmp_path):
    built = build(tmp_path, local_plan("""
    - id: hanging-check
      title: Its check never answers
      site: a
      run: "true"
      verify: sleep 60
      verify_timeout: 2s
    """))
    started = time.monotonic()
    result = run_without_terminal(built, "--yes")
    assert result.returncode == 1
    assert time.monotonic() - started < 10, "the check's try is limited by the time left"
    assert "The check timed out; giving up after 1 try." in result.stdout
    assert built.ends() == [("hanging-check", "failed")]


def test_losing_the_step_launcher_stops_the_run_and_says_what_may_still_run(tmp_path):
    # The launcher is the step's parent (the step's shell replaced the launcher's fork).
    built = build(tmp_path, local_plan("""
    - id: orphan
      title: Outlives its launcher
      site: a
      run: echo $PPID > launcher.pid; sleep 30
    - id: later
      title: Never reached
      site: a
      run: touch later.out
    """))
    script = subprocess.Popen(
        [str(built.script), "--yes"], cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        wait_for(tmp_path / "launcher.pid")
        time.sleep(0.2)  # the pid is written in full
        (start,) = [f for f in built.journal_lines() if f[0] == "START"]
        os.kill(int((tmp_path / "launcher.pid").read_text()), signal.SIGKILL)
        assert script.wait(timeout=20) == 1
        # The step is still running (and holding the output pipe): the message said so.
        os.killpg(int(start[6]), 0)
        os.killpg(int(start[6]), signal.SIGKILL)
        assert wait_gone(int(start[6]), group=True)
        _, err = script.communicate(timeout=20)
    finally:
        script.kill()
    assert f"step 1 may still be running (process group {start[6]}); stopping" in err
    assert ("orphan", "done") not in built.ends()
    assert not (tmp_path / "later.out").exists()
    result = run_without_terminal(built, "--list")
    assert re.search(r"1\s+interrupted", result.stdout), result.stdout


def test_a_stopped_step_still_ends_at_its_timeout(tmp_path):
    # A stopped process acts on TERM only once continued: the script sends CONT after it.
    built = build(tmp_path, local_plan("""
    - id: stopped
      title: Stops itself
      site: a
      run: kill -STOP $$
      timeout: 1s
    """))
    started = time.monotonic()
    result = run_without_terminal(built, "--yes")
    assert result.returncode == 1
    assert "The command timed out." in result.stdout
    assert time.monotonic() - started < 8, "TERM took effect without waiting for the KILL"


def test_a_signal_while_the_launcher_starts_a_step_still_stops_that_step(tmp_path):
    # The window between asking the launcher for a step and hearing its process group:
    # held open here by stopping the launcher while the script waits at a prompt.
    built = build(tmp_path, local_plan("""
    - id: one
      title: Names its launcher
      site: a
      run: echo $PPID > launcher.pid
    - id: two
      title: Must not run on unseen
      site: a
      run: touch two.ran
    """))
    child = spawn(built)
    child.expect(PROMPT)
    child.sendline("y")
    child.expect("Step 2/2: two")
    child.expect(PROMPT)
    launcher = int((tmp_path / "launcher.pid").read_text())
    os.kill(launcher, signal.SIGSTOP)
    try:
        child.sendline("y")
        time.sleep(0.5)  # the script asked and now waits for the launcher's answer
        child.kill(signal.SIGTERM)
        time.sleep(0.3)
    finally:
        os.kill(launcher, signal.SIGCONT)
    child.expect("TERM received.")
    child.expect("Stopping step 2")
    child.expect(pexpect.EOF)
    child.close()
    assert built.ends() == [("one", "done"), ("two", "interrupted")]
    time.sleep(0.5)
    assert not (tmp_path / "two.ran").exists()


def test_a_machine_without_flock_is_told_what_to_install(tmp_path):
    built = build(tmp_path, FAST_STEPS)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "bash").symlink_to(shutil.which("bash"))
    result = run_without_terminal(built, "--yes", env={"PATH": str(bin_dir)})
    assert result.returncode == 2
    assert "missing program: flock (util-linux provides it)" in result.stderr
    assert not (tmp_path / "ran").exists()


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_steps_run_with_the_operators_umask_while_the_journal_stays_private(tmp_path, umask):
    built = build(tmp_path, local_plan("""
    - id: writes
      title: Writes a configuration file
      site: a
      run: umask > step.umask; echo setting > app.conf
    """))
    result = subprocess.run(
        [str(built.script), "--yes"], cwd=tmp_path, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=60, start_new_session=True, preexec_fn=lambda: os.umask(umask),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert int((tmp_path / "step.umask").read_text(), 8) == umask
    assert (tmp_path / "app.conf").stat().st_mode & 0o777 == 0o666 & ~umask
    for private in (built.journal, built.log):
        assert private.stat().st_mode & 0o777 == 0o600
