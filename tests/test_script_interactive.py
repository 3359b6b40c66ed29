"""The generated script under a real pseudo-terminal: prompts, answers, failures, checks."""

from __future__ import annotations

import pexpect

from tests.scriptrun import FAILED_PROMPT, MANUAL_PROMPT, PROMPT, build, finish, local_plan, spawn

THREE_STEPS = local_plan("""
- id: first
  title: First step
  site: a
  run: echo ran-first > first.out
- id: second
  title: Second step
  site: a
  run: echo ran-second > second.out
  requires: [first]
- id: third
  title: Third step
  site: a
  run: echo ran-third > third.out
""")


def test_yes_runs_each_step_after_showing_it(tmp_path):
    built = build(tmp_path, THREE_STEPS)
    child = spawn(built)
    child.expect(r"Step 1/3: first")
    child.expect("run:      echo ran-first > first.out")
    child.expect(PROMPT)
    assert not (tmp_path / "first.out").exists(), "nothing runs before the answer"
    child.sendline("y")
    child.expect("Step 1 done.")
    child.expect(r"Step 2/3: second")
    child.expect(PROMPT)
    child.sendline("yes")
    child.expect(r"Step 3/3: third")
    child.expect(PROMPT)
    child.sendline("Y")
    child.expect("3 of 3 steps finished")
    assert finish(child) == 0
    assert (tmp_path / "third.out").read_text() == "ran-third\n"
    assert built.ends() == [("first", "done"), ("second", "done"), ("third", "done")]


def test_enter_alone_and_unknown_answers_ask_again(tmp_path):
    built = build(tmp_path, THREE_STEPS)
    child = spawn(built)
    child.expect(PROMPT)
    child.sendline("")
    child.expect("An answer is required.")
    child.expect(PROMPT)
    child.sendline("n")
    child.expect("Not understood: 'n'.")
    child.expect(PROMPT)
    child.sendline("maybe")
    child.expect("Not understood: 'maybe'.")
    child.expect(PROMPT)
    assert not (tmp_path / "first.out").exists()
    child.sendline("q")
    child.expect("Quitting at step 1.")
    assert finish(child) == 4
    assert not (tmp_path / "first.out").exists()
    assert built.ends() == []


def test_skip_blocks_the_steps_that_require_it(tmp_path):
    built = build(tmp_path, THREE_STEPS)
    child = spawn(built)
    child.expect(PROMPT)
    child.sendline("s")
    child.expect("Skipped.")
    child.expect("Step 2/3: second is blocked: it requires step 1 first, which is skipped.")
    child.expect(r"Step 3/3: third")
    child.expect(PROMPT)
    child.sendline("y")
    child.expect(r"1  skipped\s+first")
    child.expect(r"2  blocked\s+second")
    child.expect(r"3  done\s+third")
    assert finish(child) == 1, "a blocked step means the plan is not complete"
    assert not (tmp_path / "second.out").exists()
    assert built.ends() == [("first", "skipped"), ("third", "done")]


def test_all_runs_this_and_every_remaining_step_without_asking(tmp_path):
    built = build(tmp_path, THREE_STEPS)
    child = spawn(built)
    child.expect(PROMPT)
    child.sendline("a")
    child.expect(r"Step 2/3: second")
    child.expect(r"Running without asking \(answer \[a\] at step 1\)")
    child.expect(r"Step 3/3: third")
    child.expect("3 of 3 steps finished")
    assert finish(child) == 0
    assert [status for _, status in built.ends()] == ["done", "done", "done"]


def test_quit_stops_and_a_second_run_resumes_where_it_stopped(tmp_path):
    built = build(tmp_path, THREE_STEPS)
    child = spawn(built)
    child.expect(PROMPT)
    child.sendline("y")
    child.expect(r"Step 2/3")
    child.expect(PROMPT)
    child.sendline("q")
    assert finish(child) == 4
    (tmp_path / "first.out").unlink()

    child = spawn(built)
    child.expect("Resuming: 1 of 3 steps are already finished")
    child.expect(r"Step 2/3: second")
    child.expect(PROMPT)
    child.sendline("a")
    assert finish(child) == 0
    assert not (tmp_path / "first.out").exists(), "a finished step is not run again"


def test_failed_step_shows_rollback_then_retry_then_skip(tmp_path):
    built = build(tmp_path, local_plan("""
    - id: flaky
      title: Fails every time
      site: a
      run: echo attempt >> attempts; echo broken >&2; exit 3
      rollback: Put the old config back from /etc/backup.
    - id: after-flaky
      title: Runs afterwards
      site: a
      run: "true"
      after: [flaky]
    """))
    child = spawn(built)
    child.expect(PROMPT)
    child.sendline("y")
    child.expect(r"\| broken")
    child.expect("The command failed with exit status 3.")
    child.expect("Rollback for this step:")
    child.expect("Put the old config back from /etc/backup.")
    child.expect(FAILED_PROMPT)
    child.sendline("r")
    child.expect("Retrying step 1.")
    child.expect(FAILED_PROMPT)
    child.sendline("s")
    child.expect("Skipped.")
    child.expect(r"Step 2/2: after-flaky")  # `after` orders only: it is not blocked
    child.expect(PROMPT)
    child.sendline("y")
    assert finish(child) == 0, "every step done or skipped by the operator"
    assert (tmp_path / "attempts").read_text() == "attempt\nattempt\n"
    assert built.ends() == [
        ("flaky", "failed"), ("flaky", "failed"), ("flaky", "skipped"), ("after-flaky", "done"),
    ]


def test_done_by_hand_is_recorded_as_such(tmp_path):
    built = build(tmp_path, local_plan("""
    - id: broken
      title: Broken
      site: a
      run: exit 1
    """))
    child = spawn(built)
    child.expect(PROMPT)
    child.sendline("y")
    child.expect(FAILED_PROMPT)
    child.sendline("d")
    child.expect("Recorded as done by hand.")
    child.expect(r"1  done by hand\s+broken")
    assert finish(child) == 0
    assert built.ends() == [("broken", "failed"), ("broken", "by-hand")]


def test_verify_is_retried_until_it_passes_on_the_third_try(tmp_path):
    built = build(tmp_path, local_plan("""
    - id: warm-up
      title: Service needs a moment
      site: a
      run: echo 0 > tries
      verify: "n=$(( $(cat tries) + 1 )); echo $n > tries; [ $n -ge 3 ]"
      verify_timeout: 30s
    """))
    child = spawn(built)
    child.expect(PROMPT)
    child.sendline("y")
    child.expect(r"Checking \(try 1\)")
    child.expect(r"trying again in 1s")
    child.expect(r"Checking \(try 2\)")
    child.expect(r"trying again in 2s")
    child.expect(r"Checking \(try 3\)")
    child.expect("The check passed.")
    child.expect("Step 1 done.")
    assert finish(child) == 0
    assert (tmp_path / "tries").read_text() == "3\n"


def test_verify_that_never_passes_fails_the_step_when_its_time_is_up(tmp_path):
    built = build(tmp_path, local_plan("""
    - id: never
      title: Never healthy
      site: a
      run: "true"
      verify: "false"
      verify_timeout: 2s
    """))
    child = spawn(built)
    child.expect(PROMPT)
    child.sendline("y")
    child.expect("giving up after")
    child.expect("Step 1 failed: the check failed with exit status 1")
    child.expect(FAILED_PROMPT)
    child.sendline("q")
    assert finish(child) == 4
    assert built.ends() == [("never", "failed")]


def test_a_step_that_hits_its_timeout_fails(tmp_path):
    built = build(tmp_path, local_plan("""
    - id: slow
      title: Takes too long
      site: a
      run: echo started; sleep 60; echo never
      timeout: 1s
    """))
    child = spawn(built)
    child.expect(PROMPT)
    child.sendline("y")
    child.expect(r"\| started")
    child.expect("The command timed out.")
    child.expect(FAILED_PROMPT)
    child.sendline("q")
    assert finish(child) == 4
    ends = [f for f in built.journal_lines() if f[0] == "END"]
    assert ends[0][5:7] == ["failed", "124"]


def test_manual_step_waits_for_done(tmp_path):
    built = build(tmp_path, local_plan("""
    - id: call-dba
      title: Call the DBA
      site: a
      instructions: |
        Phone the DBA on call.
        Confirm the replica is healthy.
    """))
    child = spawn(built)
    child.expect("manual step: a person does this")
    child.expect("Phone the DBA on call.")
    child.expect("Confirm the replica is healthy.")
    child.expect(MANUAL_PROMPT)
    child.sendline("y")
    child.expect("Not understood: 'y'.")
    child.expect(MANUAL_PROMPT)
    child.sendline("done")
    child.expect("Step 1 done.")
    assert finish(child) == 0
    assert built.ends() == [("call-dba", "done")]


def test_yes_with_a_terminal_still_waits_for_a_person_at_a_manual_step(tmp_path):
    built = build(tmp_path, local_plan("""
    - id: auto
      title: Automated
      site: a
      run: "true"
    - id: hands
      title: By hand
      site: a
      instructions: Flip the switch.
    """))
    child = spawn(built, "--yes")
    child.expect(r"Running without asking \(--yes\)")
    child.expect(MANUAL_PROMPT)
    child.sendline("done")
    assert finish(child) == 0


def test_end_of_input_at_a_prompt_means_quit_never_yes(tmp_path):
    built = build(tmp_path, THREE_STEPS)
    child = spawn(built)
    child.expect(PROMPT)
    child.sendeof()
    assert finish(child) == 4
    assert not (tmp_path / "first.out").exists()


def test_ctrl_c_at_a_prompt_stops_without_running_anything(tmp_path):
    built = build(tmp_path, THREE_STEPS)
    child = spawn(built)
    child.expect(PROMPT)
    child.sendintr()
    child.expect("Ctrl-C received.")
    assert finish(child) == 130
    assert built.ends() == []
    assert not (tmp_path / "first.out").exists()


def test_keys_typed_while_a_step_runs_do_not_answer_the_next_prompt(tmp_path):
    built = build(tmp_path, local_plan("""
    - id: busy
      title: Busy
      site: a
      run: sleep 1
    - id: next
      title: Next
      site: a
      run: touch next.out
    """))
    child = spawn(built)
    child.expect(PROMPT)
    child.sendline("y")
    child.sendline("y")  # typed ahead while step 1 runs: must be discarded
    child.expect(r"Step 2/2: next")
    child.expect(PROMPT)
    child.expect(pexpect.TIMEOUT, timeout=1)
    assert not (tmp_path / "next.out").exists()
    child.sendline("q")
    assert finish(child) == 4
