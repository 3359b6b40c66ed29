"""A real, throwaway OpenSSH server on 127.0.0.1 for tests of remote steps.

How a test module uses it -- load this module as a pytest plugin:

    pytest_plugins = ["tests.sshd"]

    def test_remote_step(sshd_server, tmp_path):
        env = sshd_server.env()                   # os.environ + RUNBOOK_SSH=<wrapper>
        ...run the generated script with env, targeting
           sshd_server.address / sshd_server.port / sshd_server.user...
        assert sshd_server.run(f"test -f {tmp_path}/marker").returncode == 0

(`pytest_plugins` is used instead of `from tests.sshd import sshd_server` on purpose:
pytest registers an imported fixture function once per importing module, so a
"session" fixture imported into two modules would start two servers. Registered as a
plugin -- from any number of modules, or once in tests/conftest.py -- it starts one.)

Fixtures
--------
sshd_server (session)   -> SshServer: a running sshd plus a client side for it:
                           address "127.0.0.1", port, user (the current user), wrapper,
                           config, log, known_hosts, identity.
                           `RUNBOOK_SSH=str(sshd_server.wrapper)` (or `sshd_server.env()`)
                           makes the generated script's
                           `ssh -p PORT -o BatchMode=yes -o ConnectTimeout=N user@127.0.0.1 CMD`
                           reach this server. The client config deliberately has no Port:
                           a script that forgets `-p` fails instead of passing by accident.
unreachable_host (test) -> UnreachableHost: a port on 127.0.0.1 where nothing listens
                           (a socket is bound but never listens, so the port cannot be
                           taken by anybody else meanwhile): ssh fails at once, exit 255,
                           "Connection refused".
silent_host (test)      -> UnreachableHost: a port that accepts TCP but never speaks SSH,
                           so `-o ConnectTimeout=N` really has to fire (exit 255 after
                           ~N s, "Connection timed out during banner exchange").

Both unreachable fixtures carry sshd_server's user and wrapper (so they skip/fail with it):
`unreachable_host.run("true", connect_timeout=2)` calls exactly like the generated script.

Helpers: SshServer.run(command) runs a command remotely (for assertions);
SshServer.run_script(body) sends a whole bash script the way the generated script does
(remote_bash_command(): base64, so only [A-Za-z0-9+/=] crosses the remote login shell).

Skipping: only when /usr/sbin/sshd does not exist AND the environment variable CI is not
set. Under CI (any value) a missing sshd fails every test that uses the fixture, so CI
never passes silently without the remote tests (.ci/run installs openssh-server).

Side effect on the machine: sshd (OpenSSH 9.2, Debian) refuses to start without its
privilege-separation directory /run/sshd; it is created (0755) when missing and left in
place (the system's own sshd uses the same directory).

PYTEST_DONT_REWRITE: this module has no assertions of its own, and test modules import
names from it before pytest loads it as a plugin; the marker spares them pytest's
"Module already imported so cannot be rewritten" warning.
"""

from __future__ import annotations

import base64
import ctypes
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

SSHD = Path("/usr/sbin/sshd")  # sshd must be started by absolute path (it re-executes itself)
PRIVSEP_DIR = Path("/run/sshd")
ADDRESS = "127.0.0.1"

STARTUP_TIMEOUT = 10.0  # seconds until sshd must listen; normally ~0.05 s
PORT_ATTEMPTS = 5  # another process may grab the free port between the probe and sshd's bind
DEFAULT_CONNECT_TIMEOUT = 5
DEFAULT_RUN_TIMEOUT = 30.0


# ---------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------


def remote_bash_command(body: str) -> str:
    """The remote command that runs BODY (a bash script) through the remote login shell.

    Only `bash -c "$(printf %s BASE64 | base64 -d)"` crosses the login shell, so quotes,
    `$`, backslashes and newlines in BODY arrive intact and BODY's exit status becomes
    ssh's exit status. BODY must not contain NUL bytes; trailing newlines are dropped.
    The bash equivalent in a generated script:
        b64=$(printf %s "$body" | base64 -w0)
        "$ssh" ... -- "bash -c \\"\\$(printf %s $b64 | base64 -d)\\""
    """
    b64 = base64.b64encode(body.encode("utf-8")).decode("ascii")
    return f'bash -c "$(printf %s {b64} | base64 -d)"'


@dataclass(frozen=True)
class SshTarget:
    """Something to point ssh at: address, port, user, and the ssh wrapper to use."""

    address: str
    port: int
    user: str
    wrapper: Path  # executable: `ssh -F <client config> "$@"`; the value for RUNBOOK_SSH

    @property
    def target(self) -> str:
        """`user@address`, as the generated script passes it."""
        return f"{self.user}@{self.address}"

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """BASE (default: os.environ) plus RUNBOOK_SSH pointing at the wrapper."""
        env = dict(os.environ if base is None else base)
        env["RUNBOOK_SSH"] = str(self.wrapper)
        return env

    def ssh_argv(
        self,
        command: str,
        *,
        connect_timeout: int = DEFAULT_CONNECT_TIMEOUT,
        options: Sequence[str] = (),
    ) -> list[str]:
        """The argv the generated script uses: wrapper -p PORT -o BatchMode=yes
        -o ConnectTimeout=N [OPTIONS] user@address -- COMMAND."""
        return [
            str(self.wrapper),
            "-p", str(self.port),
            "-o", "BatchMode=yes",
            "-o", f"ConnectTimeout={connect_timeout}",
            *options,
            self.target,
            "--",
            command,
        ]  # fmt: skip

    def run(
        self,
        command: str,
        *,
        input: str | None = None,
        timeout: float = DEFAULT_RUN_TIMEOUT,
        connect_timeout: int = DEFAULT_CONNECT_TIMEOUT,
        options: Sequence[str] = (),
    ) -> subprocess.CompletedProcess[str]:
        """Run COMMAND through the remote login shell; never raises on a non-zero exit.

        stdin is /dev/null unless INPUT is given (ssh would otherwise read the test's
        stdin). TIMEOUT bounds the whole call (subprocess.TimeoutExpired after killing ssh).
        """
        return subprocess.run(
            self.ssh_argv(command, connect_timeout=connect_timeout, options=options),
            input=input,
            stdin=subprocess.DEVNULL if input is None else None,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=timeout,
        )

    def run_script(
        self,
        body: str,
        *,
        input: str | None = None,
        timeout: float = DEFAULT_RUN_TIMEOUT,
        connect_timeout: int = DEFAULT_CONNECT_TIMEOUT,
        options: Sequence[str] = (),
    ) -> subprocess.CompletedProcess[str]:
        """Run the bash script BODY remotely via remote_bash_command(); keywords as for run()."""
        return self.run(
            remote_bash_command(body), input=input, timeout=timeout, connect_timeout=connect_timeout, options=options
        )


@dataclass(frozen=True)
class SshServer(SshTarget):
    """The running throwaway sshd and the client files that reach it."""

    config: Path  # client ssh_config (global options only), used by the wrapper via -F
    log: Path  # sshd's log (LogLevel VERBOSE, `-E`): auth decisions, sessions, errors
    known_hosts: Path  # `[127.0.0.1]:PORT ssh-ed25519 ...`
    identity: Path  # the client's private key (its .pub is the authorized key)
    sshd_config: Path
    workdir: Path

    def log_text(self) -> str:
        """sshd's log so far (for assertion messages)."""
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            return f"<cannot read {self.log}: {exc}>"


@dataclass(frozen=True)
class UnreachableHost(SshTarget):
    """A port on 127.0.0.1 that ssh cannot use; `reason` says how it fails."""

    reason: str  # "refused" (nothing listens) or "silent" (TCP accepted, no SSH banner)


# ---------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sshd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    """A running sshd on 127.0.0.1:<free port> for the whole session (see module doc)."""
    _require_sshd()
    ssh = _require_tool("ssh")
    ssh_keygen = _require_tool("ssh-keygen")
    workdir = tmp_path_factory.mktemp("sshd")
    for char in '"%\n ':
        # ssh_config expands %-tokens in paths and splits on blanks; keep paths plain.
        if char in str(workdir):
            pytest.fail(f"tests/sshd.py: unusable temporary directory {str(workdir)!r} (contains {char!r})")
    user = pwd.getpwuid(os.geteuid()).pw_name

    host_key = workdir / "ssh_host_ed25519_key"
    identity = workdir / "id_ed25519"
    _keygen(ssh_keygen, host_key, "runbook-test-host")
    _keygen(ssh_keygen, identity, "runbook-test-client")
    authorized_keys = workdir / "authorized_keys"
    authorized_keys.write_text(_public_key(identity) + "\n", encoding="utf-8")
    _ensure_privsep_dir()

    log = workdir / "sshd.log"
    sshd_config = workdir / "sshd_config"
    proc, port = _start_sshd(workdir, sshd_config, log, host_key, authorized_keys, user)
    try:
        known_hosts = workdir / "known_hosts"
        known_hosts.write_text(f"[{ADDRESS}]:{port} {_public_key(host_key)}\n", encoding="utf-8")
        config = workdir / "ssh_config"
        _write_private(config, _client_config(identity, known_hosts))
        wrapper = workdir / "ssh-wrapper"
        wrapper.write_text(_wrapper_script(ssh, config), encoding="utf-8")
        wrapper.chmod(0o755)
        server = SshServer(
            address=ADDRESS,
            port=port,
            user=user,
            wrapper=wrapper,
            config=config,
            log=log,
            known_hosts=known_hosts,
            identity=identity,
            sshd_config=sshd_config,
            workdir=workdir,
        )
        # The real readiness check: a full login through the wrapper, as the script does.
        probe = server.run("exit 0", timeout=STARTUP_TIMEOUT)
        if probe.returncode != 0:
            pytest.fail(
                f"tests/sshd.py: sshd listens on {ADDRESS}:{port} but `ssh true` through "
                f"{wrapper} failed (exit {probe.returncode}).\nssh stderr:\n{probe.stderr}"
                f"\n{_diagnostics(proc, workdir, log, sshd_config)}"
            )
        yield server
    finally:
        _stop(proc)


@pytest.fixture
def unreachable_host(sshd_server: SshServer) -> Iterator[UnreachableHost]:
    """127.0.0.1:<port> with nothing listening: connection refused at once (exit 255)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        # Bound but never listening: connecting gets RST, and the port stays ours, so no
        # other process can start listening there during the test.
        sock.bind((ADDRESS, 0))
        yield _unreachable(sshd_server, sock.getsockname()[1], "refused")
    finally:
        sock.close()


@pytest.fixture
def silent_host(sshd_server: SshServer) -> Iterator[UnreachableHost]:
    """127.0.0.1:<port> that accepts TCP but never sends an SSH banner: ConnectTimeout fires."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((ADDRESS, 0))
        sock.listen(16)  # the kernel completes handshakes; nobody ever accept()s
        yield _unreachable(sshd_server, sock.getsockname()[1], "silent")
    finally:
        sock.close()


# ---------------------------------------------------------------------------------------
# Internals
# ---------------------------------------------------------------------------------------


def _unreachable(server: SshServer, port: int, reason: str) -> UnreachableHost:
    return UnreachableHost(address=ADDRESS, port=port, user=server.user, wrapper=server.wrapper, reason=reason)


def _require_sshd() -> None:
    if SSHD.is_file() and os.access(SSHD, os.X_OK):
        return
    if "CI" in os.environ:
        pytest.fail(
            f"{SSHD} is missing under CI={os.environ['CI']!r}: the remote-step tests need a real "
            "OpenSSH server (Debian package openssh-server; .ci/run installs it). "
            "Refusing to skip them in CI."
        )
    pytest.skip(f"{SSHD} not found (install Debian package openssh-server to run the remote-step tests)")


def _require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"tests/sshd.py: {name!r} not found on PATH (Debian package openssh-client)")
    return path


def _keygen(ssh_keygen: str, path: Path, comment: str) -> None:
    result = subprocess.run(
        [ssh_keygen, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )
    if result.returncode != 0:
        pytest.fail(f"tests/sshd.py: ssh-keygen for {path} failed (exit {result.returncode}):\n{result.stderr}")


def _public_key(private_key: Path) -> str:
    """`ssh-ed25519 AAAA...` of a key pair, without the comment."""
    kind, blob = Path(f"{private_key}.pub").read_text(encoding="ascii").split()[:2]
    return f"{kind} {blob}"


def _write_private(path: Path, text: str) -> None:
    # ssh refuses a config file that others can write; 0600 like ~/.ssh/config.
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)


def _ensure_privsep_dir() -> None:
    # "Missing privilege separation directory: /run/sshd" otherwise (systemd normally
    # creates it through RuntimeDirectory=; containers have no systemd).
    try:
        PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
    except OSError:
        pass  # not root: sshd's own message in the log explains what is wrong


def _sshd_config(port: int, host_key: Path, authorized_keys: Path, pid_file: Path, user: str) -> str:
    return (
        "# Throwaway test sshd written by tests/sshd.py.\n"
        f"ListenAddress {ADDRESS}\n"
        f"Port {port}\n"
        f"HostKey {host_key}\n"
        f"AuthorizedKeysFile {authorized_keys}\n"
        f"PidFile {pid_file}\n"
        f"AllowUsers {user}\n"
        "PubkeyAuthentication yes\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "PermitRootLogin prohibit-password\n"
        "UsePAM no\n"
        "StrictModes no\n"
        "LogLevel VERBOSE\n"
        "UseDNS no\n"
        "PrintMotd no\n"
        "PrintLastLog no\n"
        "PermitUserRC no\n"
        "X11Forwarding no\n"
        "AllowAgentForwarding no\n"
        "LoginGraceTime 30\n"
    )


def _client_config(identity: Path, known_hosts: Path) -> str:
    return (
        "# Client side of the throwaway test sshd, written by tests/sshd.py.\n"
        "# Global options only; the port comes from `-p` on the command line.\n"
        f'IdentityFile "{identity}"\n'
        "IdentitiesOnly yes\n"
        "IdentityAgent none\n"
        f'UserKnownHostsFile "{known_hosts}"\n'
        "GlobalKnownHostsFile /dev/null\n"
        "StrictHostKeyChecking yes\n"
        "UpdateHostKeys no\n"
        "CheckHostIP no\n"
        "BatchMode yes\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "LogLevel ERROR\n"
    )


def _wrapper_script(ssh: str, config: Path) -> str:
    return (
        "#!/usr/bin/env bash\n"
        "# ssh bound to the throwaway test sshd's client config (written by tests/sshd.py).\n"
        "# RUNBOOK_SSH=<this file> makes a generated runbook script reach that server.\n"
        f'exec {shlex.quote(ssh)} -F {shlex.quote(str(config))} "$@"\n'
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((ADDRESS, 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    # If pytest is SIGKILLed, teardown never runs: have the kernel SIGTERM sshd then.
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _start_sshd(
    workdir: Path, sshd_config: Path, log: Path, host_key: Path, authorized_keys: Path, user: str
) -> tuple[subprocess.Popen[bytes], int]:
    """Start sshd -D on a free port; retry with another port when that one got taken."""
    failures: list[str] = []
    for _attempt in range(PORT_ATTEMPTS):
        port = _free_port()
        sshd_config.write_text(
            _sshd_config(port, host_key, authorized_keys, workdir / "sshd.pid", user), encoding="utf-8"
        )
        log.write_text("", encoding="utf-8")  # -E appends; one log per attempt
        with open(workdir / "sshd.stderr", "wb") as stderr:
            proc = subprocess.Popen(
                [str(SSHD), "-D", "-E", str(log), "-f", str(sshd_config)],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                start_new_session=True,  # Ctrl-C in the terminal goes to pytest, which tears down
                preexec_fn=_die_with_parent,
            )
        listening = f"Server listening on {ADDRESS} port {port}."
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            text = log.read_text(encoding="utf-8", errors="replace")
            if listening in text:
                return proc, port
            if proc.poll() is not None:
                break
            if time.monotonic() > deadline:
                _stop(proc)
                pytest.fail(
                    f"tests/sshd.py: sshd did not listen on {ADDRESS}:{port} within "
                    f"{STARTUP_TIMEOUT:.0f} s.\n{_diagnostics(proc, workdir, log, sshd_config)}"
                )
            time.sleep(0.01)
        details = _diagnostics(proc, workdir, log, sshd_config)
        if "Address already in use" not in details:
            pytest.fail(f"tests/sshd.py: sshd exited at startup (exit {proc.returncode}).\n{details}")
        failures.append(f"port {port}: address already in use")
    pytest.fail(f"tests/sshd.py: no free port for sshd after {PORT_ATTEMPTS} attempts: {'; '.join(failures)}")


def _diagnostics(proc: subprocess.Popen[bytes], workdir: Path, log: Path, sshd_config: Path) -> str:
    parts = [f"command: {shlex.join(str(a) for a in proc.args)}"]  # type: ignore[union-attr]
    for title, path in (("sshd log", log), ("sshd stderr", workdir / "sshd.stderr"), ("sshd_config", sshd_config)):
        try:
            text = path.read_text(encoding="utf-8", errors="replace").strip() or "<empty>"
        except OSError as exc:
            text = f"<cannot read: {exc}>"
        parts.append(f"--- {title} ({path}) ---\n{text}")
    return "\n".join(parts)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
