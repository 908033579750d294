"""Driving baresip 1.0.0 (the real softphone) in the wire tests.

One `Baresip` is one process with its own config directory, listening for SIP and for its
control connection (ctrl_tcp: JSON in netstrings) on loopback ports of its own. A reader thread
collects what it pushes: events (CALL_INCOMING, CALL_ESTABLISHED, CALL_CLOSED, ...) and the
responses to commands. Started and stopped by PID (`quit` first, then SIGTERM/SIGKILL); every
wait polls against a deadline.

With `record=True` the `sndfile` module writes what the phone receives (decoded, 16-bit PCM)
to `<conf>/rec/dump-<peer>-<time>-dec.wav` (and what it sends to `...-enc.wav`).
"""

from __future__ import annotations

import array
import contextlib
import json
import socket
import subprocess
import threading
import wave
from pathlib import Path
from typing import Any

from harness import Pbx, free_port, password_of, stop_process, tail, wait_until, which

MODULE_DIRS = (
    "/usr/lib/baresip/modules",
    "/usr/lib/x86_64-linux-gnu/baresip/modules",
    "/usr/local/lib/baresip/modules",
)
NEEDED = ("ctrl_tcp", "g711", "ausine", "account", "menu")


def find_baresip(*extra_modules: str) -> tuple[str | None, str | None, str]:
    """(binary, module dir, reason): the reason is empty when everything is there."""
    binary = which("baresip")
    if binary is None:
        return None, None, "baresip is not installed (apt-get install baresip)"
    wanted = (*NEEDED, *extra_modules)
    for d in MODULE_DIRS:
        if all(Path(d, f"{m}.so").exists() for m in wanted):
            return binary, d, ""
    return binary, None, f"baresip modules not found ({', '.join(m + '.so' for m in wanted)})"


class Baresip:
    """One baresip registered as `user` (password pw<user>) at the PBX, driven over ctrl_tcp."""

    def __init__(
        self,
        workdir: Path,
        user: str,
        pbx: Pbx,
        module_path: str,
        *,
        auto_answer: bool = False,
        record: bool = False,
        name: str | None = None,
    ) -> None:
        self.user = user
        self.name = name or user
        self.pbx = pbx
        self.sip_port, self.ctrl_port = free_port(), free_port()
        self.conf = workdir / f"baresip-{self.name}"
        self.conf.mkdir(parents=True)
        self.rec_dir = self.conf / "rec"
        self.rec_dir.mkdir()
        # ausine: a source, so that the call has audio (and RFC 4733 events) to send; it needs
        # 48 kHz stereo. No player module: what comes in is dropped (or recorded by sndfile,
        # a decoder filter that runs without a player).
        modules = ["g711", "ausine"] + (["sndfile"] if record else [])
        lines = [
            "poll_method\tepoll",
            f"sip_listen\t127.0.0.1:{self.sip_port}",
            "net_interface\t127.0.0.1",
            f"module_path\t{module_path}",
            *(f"module\t{m}.so" for m in modules),
            "audio_source\tausine,440",
            "ausrc_srate\t48000",
            "ausrc_channels\t2",
            "module_tmp\tuuid.so",
            "module_tmp\taccount.so",
            "module_app\tmenu.so",
            "module_app\tctrl_tcp.so",
            f"ctrl_tcp_listen\t127.0.0.1:{self.ctrl_port}",
        ]
        if record:
            lines.append(f"snd_path\t{self.rec_dir}")
        (self.conf / "config").write_text("\n".join(lines) + "\n")
        answer = ";answermode=auto" if auto_answer else ""
        (self.conf / "accounts").write_text(
            f"<sip:{user}@127.0.0.1:{pbx.sip_port}>;auth_pass={password_of(user)};regint=600{answer}\n"
        )
        self.log = workdir / f"baresip-{self.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.sock: socket.socket | None = None
        self.events: list[dict[str, Any]] = []
        self.responses: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._reader: threading.Thread | None = None

    # -- process ------------------------------------------------------------------------
    def start(self, binary: str) -> Baresip:
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [binary, "-f", str(self.conf)], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        self.sock = wait_until(self._connect, 10, f"baresip {self.name} ctrl_tcp", alive=self._exited)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def _exited(self) -> str | None:
        if self.proc is not None and self.proc.poll() is not None:
            return f"baresip {self.name} exited ({self.proc.returncode}):\n{tail(self.log)}"
        return None

    def _connect(self) -> socket.socket | None:
        try:
            return socket.create_connection(("127.0.0.1", self.ctrl_port), timeout=1)
        except OSError:
            return None

    def _read(self) -> None:
        assert self.sock is not None
        self.sock.settimeout(0.5)
        buf = b""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while b":" in buf:
                size, _, rest = buf.partition(b":")
                if not size.isdigit() or len(rest) < int(size) + 1:
                    break
                body, buf = rest[: int(size)], rest[int(size) + 1 :]
                try:
                    msg = json.loads(body)
                except json.JSONDecodeError:
                    continue
                with self._lock:
                    (self.events if msg.get("event") else self.responses).append(msg)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None and self.sock is not None:
            with contextlib.suppress(OSError):
                self.command("quit")
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
        if self.sock is not None:
            self.sock.close()
        stop_process(self.proc, timeout=5)

    # -- control ------------------------------------------------------------------------
    def command(self, command: str, params: str = "") -> None:
        assert self.sock is not None
        body = json.dumps({"command": command, "params": params, "token": command}).encode()
        self.sock.sendall(str(len(body)).encode() + b":" + body + b",")

    def dial(self, number: str) -> None:
        self.command("dial", f"sip:{number}@127.0.0.1:{self.pbx.sip_port}")

    def mark(self) -> int:
        """Where the events seen so far end: `wait_event(..., since=mark)` looks after it."""
        with self._lock:
            return len(self.events)

    def events_since(self, since: int = 0) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.events[since:])

    def event_types(self, since: int = 0) -> list[str]:
        return [str(e.get("type")) for e in self.events_since(since)]

    def wait_event(self, kind: str, timeout: float = 10.0, since: int = 0) -> dict[str, Any]:
        """The first `kind` event after `since`."""

        def found() -> dict[str, Any] | None:
            return next((e for e in self.events_since(since) if e.get("type") == kind), None)

        return wait_until(found, timeout, f"{kind} at baresip {self.name}", alive=self._exited)

    def event_field(self, kind: str, name: str) -> Any:
        """A field of the first event of this kind (None when there is none)."""
        with self._lock:
            return next((e.get(name) for e in self.events if e.get("type") == kind), None)

    def wait_registered(self, timeout: float = 10.0) -> None:
        self.pbx.wait_for(
            lambda: self.user in self.pbx.registered_users() or None, f"{self.name} registered", timeout
        )

    def detail(self) -> str:
        """Its events and the end of its log (without the call status line it redraws)."""
        lines = [ln for ln in tail(self.log, 400).splitlines() if ln.strip() and not ln.startswith("[0:")]
        return f"--- baresip {self.name} events: {self.event_types()}\n" + "\n".join(lines[-25:])

    # -- recordings ---------------------------------------------------------------------
    def recordings(self) -> list[Path]:
        """What the phone received, one WAV per call (sndfile's decoder side), oldest first."""
        return sorted(self.rec_dir.glob("*-dec.wav"), key=lambda p: p.stat().st_mtime)


def wav_samples(path: Path) -> tuple[int, list[int]]:
    """(sample rate, mono 16-bit samples) of a WAV (the first channel of a stereo one)."""
    with wave.open(str(path), "rb") as w:
        rate, channels, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
        frames = w.readframes(w.getnframes())
    assert width == 2, f"{path}: {width * 8}-bit samples"
    samples = array.array("h", frames)
    return rate, list(samples[::channels])
