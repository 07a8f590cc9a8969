"""The loopback HTTP server (SMS gateway and credit bureau stand-in) as a real process."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import free_port

SERVER = Path(__file__).with_name("loopback_server.py")


class Loopback:
    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.sms_url = f"{self.base}/sms"
        self.bureau_url = f"{self.base}/bureau"

    def set_mode(self, **modes: str) -> None:
        httpx.post(f"{self.base}/_mode", json=modes, timeout=5).raise_for_status()

    def received(self, path: str = "/sms") -> list[dict[str, Any]]:
        data = httpx.get(f"{self.base}/_received", timeout=5).json()
        return [r for r in data["received"] if r["path"] == path]

    def refused(self) -> list[dict[str, Any]]:
        return list(httpx.get(f"{self.base}/_received", timeout=5).json()["refused"])


@pytest.fixture
def loopback() -> Iterator[Loopback]:
    port = free_port()
    process = subprocess.Popen([sys.executable, str(SERVER), str(port)])
    server = Loopback(port)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                httpx.get(f"{server.base}/_received", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the loopback server did not start") from None
                time.sleep(0.05)
        yield server
    finally:
        process.terminate()
        process.wait(timeout=10)
