"""Helpers shared by tests (fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest


@dataclass(frozen=True)
class BusNamespace:
    url: str
    stream: str
    subject_prefix: str


class SimulatedCrash(BaseException):
    """Raised by a test hook to stop a component the way a killed process stops: no cleanup path."""


async def eventually(check: Callable[[], Awaitable[bool]], *, timeout: float = 15.0, every: float = 0.1) -> None:
    """Waits until ``check`` holds; fails with a clear message otherwise (not a timing assertion)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        if await check():
            return
        if loop.time() > deadline:
            pytest.fail(f"condition not met within {timeout} s: {check.__name__}")
        await asyncio.sleep(every)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
