"""Remote steps over ssh, against a real OpenSSH server on 127.0.0.1 (tests/sshd.py)."""

from __future__ import annotations

import time

from tests.scriptrun import FAILED_PROMPT, PROMPT, build, finish, run_without_terminal, spawn, wait_gone

pytest_plugins = ["tests.sshd"]


def remote_plan(server, resources: str) -> str:
    return (
        "version: 1\n"
        "plan: {name: remote, title: Remote drill}\n"
        "sites:\n"
        "  far:\n"
        "    role: dr\n"
        "    hosts:\n"
        f"      box: {{address: {server.address}, user: {server.user}, port: {server.port}}}\n"
        "resources:\n" + resources
    )


def test_remote_step_runs_on_the_far_side_and_its_output_and_status_come_back(sshd_server, tmp_path):
    marker = tmp_path / "marker"
    built = build(tmp_path, remote_plan(sshd_server, f"""\
  - id: remote-ok
    title: Runs over ssh
    site: far
    host: box
    run: |
      echo "via $SSH_CONNECTION" > {marker}
      echo "it's on the far side"
    verify: test -s {marker}
  - id: remote-fails
    title: Fails over ssh
    site: far
    host: box
    run: echo failing >&2; exit 3
"""))
    result = run_without_terminal(built, "--yes", env=sshd_server.env())
    assert result.returncode == 1, result.stdout + result.stderr
    assert marker.read_text().startswith("via 127.0.0.1 "), "ran through sshd, not locally"
    assert "| it's on the far side" in result.stdout
    assert "The check passed." in result.stdout
    assert "| failing" in result.stdout
    assert "The command failed with exit status 3." in result.stdout
    assert built.ends() == [("remote-ok", "done"), ("remote-fails", "failed")]
    assert f"host box ({sshd_server.user}@127.0.0.1 port {sshd_server.port}, over ssh)" in result.stdout
    log = built.log.read_text()
    assert "OUT step 1: it's on the far side" in log
    assert "EXIT step 2: 3 (failed with exit status 3)" in log


def test_remote_exit_255_is_not_mistaken_for_an_ssh_failure(sshd_server, tmp_path):
    built = build(tmp_path, remote_plan(sshd_server, """\
  - id: weird
    title: Exits 255
    site: far
    host: box
    run: exit 255
"""))
    result = run_without_terminal(built, "--yes", env=sshd_server.env())
    assert result.returncode == 1
    assert "failed with exit status 254" in result.stdout
    assert "ssh could not run it" not in result.stdout


def test_unreachable_host_fails_fast_with_a_clear_message(unreachable_host, tmp_path):
    built = build(tmp_path, remote_plan(unreachable_host, """\
  - id: nowhere
    title: Host is down
    site: far
    host: box
    run: "true"
"""))
    started = time.monotonic()
    result = run_without_terminal(built, "--yes", env=unreachable_host.env())
    assert time.monotonic() - started < 20
    assert result.returncode == 1
    assert "ssh could not run it on box (exit 255)" in result.stdout
    assert "Connection refused" in result.stdout


def test_silent_host_hits_the_connect_timeout_instead_of_hanging(silent_host, tmp_path):
    built = build(tmp_path, remote_plan(silent_host, """\
  - id: hang
    title: Host never answers
    site: far
    host: box
    run: "true"
"""))
    env = silent_host.env()
    env["RUNBOOK_SSH_CONNECT_TIMEOUT"] = "2"
    started = time.monotonic()
    result = run_without_terminal(built, "--yes", env=env, timeout=60)
    assert time.monotonic() - started < 30
    assert result.returncode == 1
    assert "ssh could not run it on box (exit 255)" in result.stdout


def test_remote_step_that_times_out_is_killed_on_the_far_side(sshd_server, tmp_path):
    pid_file = tmp_path / "remote.pid"
    built = build(tmp_path, remote_plan(sshd_server, f"""\
  - id: stuck
    title: Never finishes
    site: far
    host: box
    run: echo $$ > {pid_file}; sleep 120
    timeout: 2s
"""))
    child = spawn(built, env=sshd_server.env())
    child.expect(PROMPT)
    child.sendline("y")
    child.expect("The command timed out.", timeout=30)
    child.expect(FAILED_PROMPT)
    child.sendline("q")
    assert finish(child) == 4
    pid = int(pid_file.read_text())
    assert wait_gone(pid), "the remote step outlived its timeout"
