"""Helpers for the wire tests (and scripts/bench): real processes over loopback.

Everything here drives real programs: the PBX daemon (`python -m pbx run`), SIPp, baresip, pyVoIP,
sipvicious. The tests run inside a network namespace whose only interface is `lo` (see
scripts/in-netns), so nothing can leak onto a real network.

Rules kept by every helper:
- every subprocess has a timeout, and is stopped by its own PID (SIGTERM, then SIGKILL);
- waiting is polling a condition against a deadline (a port, an API answer), never a fixed sleep.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = Path(__file__).resolve().parent / "scenarios"
GEN_CONFIG = REPO / "scripts" / "gen-config"
DEFAULT_TOKEN = "wire-token"

T = TypeVar("T")


# --------------------------------------------------------------------------------------------
# environment
# --------------------------------------------------------------------------------------------
def interfaces() -> list[str]:
    """Network interfaces of *this* process's namespace.

    /proc/net/dev follows the caller's network namespace; /sys/class/net follows whoever
    mounted sysfs, so it can show the host's interfaces inside `unshare -n`.
    """
    lines = Path("/proc/net/dev").read_text().splitlines()[2:]
    return [line.split(":", 1)[0].strip() for line in lines if ":" in line]


def only_loopback() -> bool:
    """True when the only network interface is `lo` (a namespace made by scripts/in-netns)."""
    return interfaces() == ["lo"]


def which(*names: str) -> str | None:
    """First of `names` found in the venv's bin directory or on PATH."""
    venv_bin = Path(sys.executable).parent
    for name in names:
        candidate = venv_bin / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
        found = shutil.which(name)
        if found:
            return found
    return None


def free_port(host: str = "127.0.0.1") -> int:
    """A port that is free for both UDP and TCP on `host` right now (SIP listens on both)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(200):
        with socket.socket(family, socket.SOCK_STREAM) as tcp:
            tcp.bind((host, 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(family, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((host, port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no port free for both UDP and TCP")


def wait_until(
    check: Callable[[], T | None],
    timeout: float,
    what: str,
    *,
    interval: float = 0.05,
    alive: Callable[[], str | None] | None = None,
) -> T:
    """Poll `check` until it returns something truthy; raise TimeoutError after `timeout` s.

    `alive` (optional) is called between polls and returns a reason string when waiting is
    pointless (for instance: the daemon exited); that reason is raised at once.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            result = check()
            if result:
                return result
        except Exception as exc:  # the condition may not be checkable yet (port closed...)
            last_error = exc
        if alive is not None:
            reason = alive()
            if reason:
                raise RuntimeError(f"while waiting for {what}: {reason}")
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")
        time.sleep(interval)


def tail(path: Path, lines: int = 40) -> str:
    """Last `lines` lines of a log file (for assertion messages)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"<no {path}>"
    return "\n".join(text.splitlines()[-lines:])


def stop_process(proc: subprocess.Popen[Any], timeout: float = 10.0) -> int:
    """SIGTERM by PID, wait up to `timeout`, then SIGKILL. Returns the exit code."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    rc = proc.returncode
    assert rc is not None
    return int(rc)


@dataclass
class ToolRun:
    """Outcome of running a command-line tool with a hard timeout."""

    exit_code: int | None  # None: killed at the timeout
    output: str  # stdout and stderr, interleaved
    timed_out: bool


def run_tool(
    cmd: Sequence[str],
    *,
    timeout: float,
    log: Path,
    stdin: bytes | None = None,
    cwd: Path | None = None,
) -> ToolRun:
    """Run `cmd` (stdout+stderr to `log`), killed by PID after `timeout` seconds."""
    log.parent.mkdir(parents=True, exist_ok=True)
    timed_out = False
    with log.open("wb") as out:
        proc = subprocess.Popen(
            list(cmd),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            cwd=cwd,
        )
        try:
            if stdin is not None and proc.stdin is not None:
                with contextlib.suppress(BrokenPipeError):
                    proc.stdin.write(stdin)
                    proc.stdin.close()
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            stop_process(proc, timeout=5)
    return ToolRun(None if timed_out else proc.returncode, log.read_text(errors="replace"), timed_out)


# --------------------------------------------------------------------------------------------
# users / injection files
# --------------------------------------------------------------------------------------------
def user_range(n: int, first: int = 1000) -> list[str]:
    return [str(first + i) for i in range(n)]


def password_of(user: str) -> str:
    """The password scripts/gen-config gives every device."""
    return f"pw{user}"


def write_users_csv(path: Path, users: Iterable[str], password: Callable[[str], str] = password_of) -> Path:
    """SIPp injection file: SEQUENTIAL, one line per user: `user;password;[authentication ...]`.

    field0 = user, field1 = password, field2 = the complete `[authentication]` keyword, because
    SIPp 3.6 cannot nest [field0] inside `[authentication username=... password=...]`
    (SIPp issue #640): the scenarios use [field2].
    """
    lines = ["SEQUENTIAL"]
    for user in users:
        pw = password(user)
        if any(c in pw for c in "; ]\r\n"):
            raise ValueError(f"password {pw!r} cannot go through a SIPp injection file")
        lines.append(f"{user};{pw};[authentication username={user} password={pw}]")
    path.write_text("\n".join(lines) + "\n")
    return path


# --------------------------------------------------------------------------------------------
# SIPp
# --------------------------------------------------------------------------------------------
TIMEOUT_COLUMNS = ("FailedMaxUDPRetrans(C)", "FailedTimeoutOnRecv(C)", "FailedTimeoutOnSend(C)")


@dataclass
class SippResult:
    """Outcome of one SIPp run, from its exit code and its statistics file (-trace_stat)."""

    exit_code: int
    created: int
    successful: int
    failed: int
    timeouts: int  # calls that failed for lack of an answer (max retransmissions / recv timeout)
    retransmissions: int
    dead_call_msgs: int
    out_of_call_msgs: int
    elapsed: float  # seconds, from SIPp's own clock (1 s resolution)
    wall: float  # seconds the SIPp process ran (start-up included)
    killed: bool  # our hard timeout had to kill SIPp
    stats: dict[str, str]
    stat_file: Path
    error_file: Path
    output_file: Path

    @property
    def unfinished(self) -> int:
        """Calls created but neither successful nor failed (still running at the global timeout)."""
        return max(0, self.created - self.successful - self.failed)

    @property
    def clean(self) -> bool:
        """Every call succeeded (SIPp's exit code 0 means exactly that)."""
        return self.exit_code == 0 and self.failed == 0 and self.unfinished == 0 and not self.killed

    def explain(self, limit: int = 3000) -> str:
        """A readable summary with the start of SIPp's error log (the unexpected messages)."""
        errors = ""
        with contextlib.suppress(OSError):
            errors = self.error_file.read_text(errors="replace")[:limit]
        output = tail(self.output_file, 15)
        return (
            f"sipp exit={self.exit_code} created={self.created} ok={self.successful} "
            f"failed={self.failed} timeouts={self.timeouts} unfinished={self.unfinished} "
            f"retrans={self.retransmissions} killed={self.killed}\n"
            f"--- sipp errors ({self.error_file}):\n{errors}\n--- sipp output tail:\n{output}"
        )


def parse_sipp_stats(path: Path) -> dict[str, str]:
    """Last row of a SIPp -trace_stat CSV (';'-separated, header row first) as a dict."""
    try:
        rows = [r for r in path.read_text(errors="replace").splitlines() if r.strip()]
    except OSError:
        return {}
    if len(rows) < 2:
        return {}
    header = rows[0].rstrip(";").split(";")
    last = rows[-1].rstrip(";").split(";")
    return dict(zip(header, last, strict=False))


def _int(stats: Mapping[str, str], key: str) -> int:
    try:
        return int(stats.get(key, "0") or 0)
    except ValueError:
        return 0


def _hms(value: str) -> float:
    """SIPp's 'HH:MM:SS' (optionally ':micro') elapsed time in seconds."""
    parts = value.split(":")
    try:
        h, m, s = (int(p) for p in parts[:3])
    except ValueError:
        return 0.0
    return h * 3600 + m * 60 + s


def sipp(
    scenario: str | Path,
    target: tuple[str, int],
    *,
    inf: Path,
    calls: int,
    rate: float,
    workdir: Path,
    timeout: float = 60.0,
    transport: str = "u1",
    local_ip: str = "127.0.0.1",
    local_port: int | None = None,
    keys: Mapping[str, str] | None = None,
    recv_timeout_ms: int = 10_000,
    limit: int | None = None,
    cpu: int | None = None,
    extra: Sequence[str] = (),
    name: str | None = None,
) -> SippResult:
    """Run SIPp once: `calls` calls of `scenario` at `rate` calls/s against `target`.

    `scenario` is a path or a file name in tests/wire/scenarios. `-timeout` plus
    `-timeout_error` bound the whole run (exit code != 0 when it is reached); our own hard
    timeout (+20 s) kills SIPp by PID if it still hangs. `keys` become `-key name value`
    (the scenarios use [expires]). `cpu` pins SIPp with taskset (benchmarks).
    """
    return start_sipp(
        scenario, target, inf=inf, calls=calls, workdir=workdir, rate=rate, timeout=timeout,
        transport=transport, local_ip=local_ip, local_port=local_port, keys=keys,
        recv_timeout_ms=recv_timeout_ms, limit=limit, cpu=cpu, extra=extra, name=name, wait_ready=False,
    ).wait()  # fmt: skip


# --------------------------------------------------------------------------------------------
# the PBX daemon
# --------------------------------------------------------------------------------------------
def binding_user(binding: Mapping[str, Any]) -> str:
    """The user part of a binding from /api/registrations (`user`, else the AOR's user part)."""
    user = binding.get("user") or binding.get("extension")
    if user:
        return str(user)
    aor = str(binding.get("aor", ""))
    m = re.match(r"^(?:sips?:)?([^@;>]+)@", aor.strip("<>"))
    return m.group(1) if m else aor


def binding_contact(binding: Mapping[str, Any]) -> str:
    contact = binding.get("contact") or binding.get("uri") or ""
    return str(contact)


@dataclass
class Pbx:
    """One PBX daemon on a generated config, with its own ports and data dir.

    `Pbx(workdir, users=10).start()`; `api("/api/registrations")`; `stop()`; `restart()`.
    The config is generated once by scripts/gen-config; restart() keeps config and data dir.
    """

    workdir: Path
    users: int = 10
    first: int = 1000
    token: str = DEFAULT_TOKEN
    ban_after: int | None = None
    rps: int | None = None
    extra_gen_args: Sequence[str] = ()
    host: str = "127.0.0.1"
    cpu: int | None = None  # pin the daemon with taskset (benchmarks)
    sip_port: int = 0
    http_port: int = 0
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    starts: int = 0

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_dir = self.workdir / "config"
        self.data_dir = self.workdir / "data"
        self.data_dir.mkdir(exist_ok=True)
        if not self.sip_port:
            self.sip_port = free_port(self.host)
        if not self.http_port:
            self.http_port = free_port(self.host)
        self.generate_config()

    # -- config -------------------------------------------------------------------------
    def generate_config(self) -> None:
        if not GEN_CONFIG.exists():
            raise RuntimeError(f"{GEN_CONFIG} does not exist yet (another helper writes it)")
        args = [
            "--users", str(self.users),
            "--first", str(self.first),
            "--out", str(self.config_dir),
            "--sip-host", self.host,
            "--sip-port", str(self.sip_port),
            "--http-port", str(self.http_port),
            "--token", self.token,
        ]  # fmt: skip
        if self.ban_after is not None:
            args += ["--ban-after", str(self.ban_after)]
        if self.rps is not None:
            args += ["--rps", str(self.rps)]
        args += list(self.extra_gen_args)
        first_line = (
            GEN_CONFIG.read_text(errors="replace").splitlines()[0] if GEN_CONFIG.stat().st_size else ""
        )
        runner = [sys.executable] if "python" in first_line else []
        proc = subprocess.run(
            [*runner, str(GEN_CONFIG), *args], capture_output=True, text=True, timeout=60, cwd=REPO
        )
        if proc.returncode != 0:
            raise RuntimeError(f"gen-config failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")

    # -- process ------------------------------------------------------------------------
    @property
    def log_file(self) -> Path:
        return self.workdir / f"pbx.{self.starts}.log"

    @property
    def sip_addr(self) -> tuple[str, int]:
        return (self.host, self.sip_port)

    @property
    def pid(self) -> int:
        assert self.proc is not None, "PBX not started"
        return self.proc.pid

    def start(self, timeout: float = 30.0) -> Pbx:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        cmd = [
            sys.executable,
            "-m",
            "pbx",
            "run",
            "--config",
            str(self.config_dir),
            "--data",
            str(self.data_dir),
        ]
        if self.cpu is not None:
            cmd = ["taskset", "-c", str(self.cpu), *cmd]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        with self.log_file.open("wb") as log:
            self.proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=REPO, env=env
            )
        try:
            wait_until(self._healthy, timeout, "PBX /healthz", alive=self._exited)
        except (TimeoutError, RuntimeError) as exc:
            self.stop()
            raise RuntimeError(f"PBX did not become ready: {exc}\n--- log:\n{tail(self.log_file)}") from exc
        return self

    def _exited(self) -> str | None:
        if self.proc is not None and self.proc.poll() is not None:
            return f"PBX exited with code {self.proc.returncode}"
        return None

    def _healthy(self) -> bool:
        status, _ = self.request("GET", "/healthz", timeout=1.0)
        return status == 200

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM (graceful, exit code 0 expected), SIGKILL after `timeout`. Returns the code."""
        if self.proc is None:
            return 0
        return stop_process(self.proc, timeout)

    def restart(self, timeout: float = 30.0) -> int:
        """Stop (returns that exit code) and start again on the same config and data dir."""
        rc = self.stop()
        self.start(timeout)
        return rc

    def log(self, lines: int = 60) -> str:
        return tail(self.log_file, lines)

    # -- HTTP API -----------------------------------------------------------------------
    def request(self, method: str, path: str, *, timeout: float = 10.0, body: Any = None) -> tuple[int, Any]:
        """(status, decoded JSON or text) of one API call with the bearer token (and a JSON body)."""
        url = f"http://{self.host}:{self.http_port}{path}"
        headers = {"Authorization": f"Bearer {self.token}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(url, method=method, headers=headers, data=data)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status, body = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, body = err.code, err.read()
        text = body.decode("utf-8", errors="replace")
        try:
            return int(status), json.loads(text) if text else None
        except json.JSONDecodeError:
            return int(status), text

    def api(self, path: str, method: str = "GET") -> Any:
        """JSON of a successful API call; raises AssertionError (with the log) otherwise."""
        status, body = self.request(method, path)
        assert 200 <= status < 300, f"{method} {path} -> {status}: {body}\n--- PBX log:\n{self.log()}"
        return body

    def registrations(self) -> list[dict[str, Any]]:
        body = self.api("/api/registrations")
        if isinstance(body, dict):  # tolerate {"registrations": [...]} / {"items": [...]}
            for key in ("registrations", "bindings", "items"):
                if isinstance(body.get(key), list):
                    body = body[key]
                    break
        assert isinstance(body, list), f"/api/registrations is not a list: {body!r}"
        return body

    def registered_users(self) -> set[str]:
        return {binding_user(b) for b in self.registrations()}

    def users_present(self) -> dict[str, bool]:
        body = self.api("/api/users")
        if isinstance(body, dict):
            for key in ("users", "items"):
                if isinstance(body.get(key), list):
                    body = body[key]
                    break
        assert isinstance(body, list), f"/api/users is not a list: {body!r}"
        return {str(u["extension"]): bool(u.get("present")) for u in body}

    def bans(self) -> list[Any]:
        body = self.api("/api/bans")
        if isinstance(body, dict):
            for key in ("bans", "items"):
                if isinstance(body.get(key), list):
                    body = body[key]
                    break
        assert isinstance(body, list), f"/api/bans is not a list: {body!r}"
        return body

    def banned_ips(self) -> set[str]:
        out: set[str] = set()
        for ban in self.bans():
            if isinstance(ban, str):
                out.add(ban)
            elif isinstance(ban, dict):
                out.add(str(ban.get("ip") or ban.get("address") or ban.get("source") or ""))
        return out

    def wait_for(self, check: Callable[[], T | None], what: str, timeout: float = 15.0) -> T:
        """Poll an API condition; fails early if the daemon died."""
        return wait_until(check, timeout, what, interval=0.1, alive=self._exited)


# --------------------------------------------------------------------------------------------
# raw SIP over UDP (conformance tests)
# --------------------------------------------------------------------------------------------
STATUS_RE = re.compile(rb"^SIP/2\.0 (\d{3}) ")


def status_of(datagram: bytes) -> int | None:
    """Status code of a response datagram, None for anything else."""
    m = STATUS_RE.match(datagram)
    return int(m.group(1)) if m else None


def header_values(message: bytes, *names: str) -> list[str]:
    """Values of the named headers (case-insensitive, long or compact names, unfolded)."""
    head = message.split(b"\r\n\r\n", 1)[0].decode("utf-8", errors="replace")
    unfolded = re.sub(r"\r\n[ \t]+", " ", head)
    wanted = {n.lower() for n in names}
    out = []
    for line in unfolded.split("\r\n")[1:]:
        name, sep, value = line.partition(":")
        if sep and name.strip().lower() in wanted:
            out.append(value.strip())
    return out


def options_request(target: tuple[str, int], local: tuple[str, int], tag: str) -> bytes:
    """A minimal, valid OPTIONS addressed to the PBX itself (used as a probe)."""
    host, port = target
    lhost, lport = local
    return (
        f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {lhost}:{lport};branch=z9hG4bK-{tag};rport\r\n"
        f"Max-Forwards: 70\r\n"
        f"From: <sip:probe@{lhost}>;tag={tag}\r\n"
        f"To: <sip:{host}:{port}>\r\n"
        f"Call-ID: {tag}@{lhost}\r\n"
        f"CSeq: 1 OPTIONS\r\n"
        f"Content-Length: 0\r\n\r\n"
    ).encode()


# --------------------------------------------------------------------------------------------
# SIPp in the background (calls: a UAS waits while a UAC calls it through the PBX)
# --------------------------------------------------------------------------------------------
def udp_port_bound(port: int, host: str = "127.0.0.1") -> bool:
    """True when some socket of this network namespace is bound to UDP `host:port`."""
    want = f"{socket.inet_aton(host)[::-1].hex().upper()}:{port:04X}"
    for table in ("/proc/net/udp",):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if len(fields) > 1 and fields[1] == want:
                    return True
    return False


@dataclass
class RunningSipp:
    """A SIPp started by `start_sipp`; `wait()` (or `stop()`) gives its SippResult."""

    proc: subprocess.Popen[bytes]
    timeout: float
    started: float
    stat_file: Path
    error_file: Path
    output_file: Path
    workdir: Path
    label: str
    result: SippResult | None = None

    def running(self) -> bool:
        return self.proc.poll() is None

    def wait(self, timeout: float | None = None) -> SippResult:
        """Wait for SIPp to end by itself (its own -timeout bounds it); kill it by PID after
        `timeout` (default: its -timeout + 20 s)."""
        if self.result is not None:
            return self.result
        killed = False
        try:
            self.proc.wait(timeout=self.timeout + 20 if timeout is None else timeout)
        except subprocess.TimeoutExpired:
            killed = True
            stop_process(self.proc, timeout=5)
        return self._finish(killed)

    def stop(self) -> SippResult:
        """End it now (SIGTERM by PID, then SIGKILL); counts as killed if it was still running."""
        if self.result is not None:
            return self.result
        killed = self.proc.poll() is None
        stop_process(self.proc, timeout=5)
        return self._finish(killed)

    def _finish(self, killed: bool) -> SippResult:
        stats = parse_sipp_stats(self.stat_file)
        self.result = SippResult(
            exit_code=int(self.proc.returncode if self.proc.returncode is not None else -9),
            created=_int(stats, "TotalCallCreated"),
            successful=_int(stats, "SuccessfulCall(C)"),
            failed=_int(stats, "FailedCall(C)"),
            timeouts=sum(_int(stats, c) for c in TIMEOUT_COLUMNS),
            retransmissions=_int(stats, "Retransmissions(C)"),
            dead_call_msgs=_int(stats, "DeadCallMsgs(C)"),
            out_of_call_msgs=_int(stats, "OutOfCallMsgs(C)"),
            elapsed=_hms(stats.get("ElapsedTime(C)", "0:0:0")),
            wall=time.monotonic() - self.started,
            killed=killed,
            stats=stats,
            stat_file=self.stat_file,
            error_file=self.error_file,
            output_file=self.output_file,
        )
        return self.result

    def messages(self) -> str:
        """SIPp's message trace (-trace_msg), when it was asked for."""
        found = sorted(self.workdir.glob(f"{Path(self.label).stem}*_messages.log"))
        return "\n".join(p.read_text(errors="replace") for p in found)


def start_sipp(
    scenario: str | Path,
    target: tuple[str, int],
    *,
    inf: Path,
    calls: int,
    workdir: Path,
    rate: float = 10,
    timeout: float = 60.0,
    transport: str = "u1",
    local_ip: str = "127.0.0.1",
    local_port: int | None = None,
    keys: Mapping[str, str] | None = None,
    recv_timeout_ms: int = 10_000,
    limit: int | None = None,
    cpu: int | None = None,
    extra: Sequence[str] = (),
    name: str | None = None,
    trace_msg: bool = False,
    ready_timeout: float = 10.0,
    wait_ready: bool = True,
) -> RunningSipp:
    """Start SIPp like `sipp()` does but without waiting for it (a UAS that answers calls).

    With `local_port`, returns once SIPp's UDP socket is bound there (polled, not slept), so a
    caller started afterwards finds it listening. The scenario file is copied into `workdir`
    under the run's name so that SIPp's per-scenario files (-trace_msg, -trace_rtt) are told
    apart when one scenario runs twice at once.
    """
    scenario_path = Path(scenario)
    if not scenario_path.is_absolute() and not scenario_path.exists():
        scenario_path = SCENARIOS / scenario_path
    if not scenario_path.name.endswith(".xml"):
        scenario_path = scenario_path.with_name(scenario_path.name + ".xml")
    label = name or scenario_path.stem
    workdir.mkdir(parents=True, exist_ok=True)
    copy = workdir / f"{label}.xml"
    if copy.resolve() != scenario_path.resolve():
        shutil.copyfile(scenario_path, copy)
    stat_file = workdir / f"{label}.stat.csv"
    error_file = workdir / f"{label}.errors.log"
    output_file = workdir / f"{label}.out"
    for stale in (stat_file, error_file, output_file):
        stale.unlink(missing_ok=True)

    all_keys = {"expires": "3600"}
    all_keys.update(keys or {})
    cmd: list[str] = []
    if cpu is not None:
        cmd += ["taskset", "-c", str(cpu)]
    cmd += [
        which("sipp") or "sipp",
        f"{target[0]}:{target[1]}",
        "-sf", str(copy),
        "-inf", str(inf),
        "-m", str(calls),
        "-r", f"{rate:g}",
        "-t", transport,
        "-i", local_ip,
        "-timeout", f"{timeout:g}s",
        "-timeout_error",
        "-recv_timeout", str(recv_timeout_ms),
        "-buff_size", "1048576",
        "-trace_stat", "-stf", str(stat_file), "-fd", "1",
        "-trace_err", "-error_file", str(error_file),
        "-nostdin",
        "-nd",
    ]  # fmt: skip
    if local_port is not None:
        cmd += ["-p", str(local_port)]
    if limit is not None:
        cmd += ["-l", str(limit)]
    if trace_msg:
        cmd += ["-trace_msg"]
    for key, value in all_keys.items():
        cmd += ["-key", key, value]
    cmd += list(extra)

    with output_file.open("wb") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=workdir
        )
    run = RunningSipp(proc, timeout, time.monotonic(), stat_file, error_file, output_file, workdir, label)
    if wait_ready and local_port is not None and transport.startswith("u"):

        def gone() -> str | None:
            return None if run.running() else f"sipp exited early:\n{tail(output_file, 15)}"

        try:
            wait_until(
                lambda: udp_port_bound(local_port, local_ip), ready_timeout, "SIPp to bind", alive=gone
            )
        except (TimeoutError, RuntimeError):
            run.stop()
            raise
    return run
