"""kustomize base and overlays: build offline, validate strictly, match the chart object for object."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_base_is_generated_from_the_current_chart(kc) -> None:
    assert kc.check_base_fresh() == []


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_overlay_builds_and_validates_strictly(kc, build, overlay: str) -> None:
    docs = build(overlay)
    assert {d["metadata"].get("namespace") for d in docs} == {
        "granary-dev" if overlay == "dev" else "granary"
    }
    errors, warnings = kc.validate_docs(docs)
    assert errors == [] and warnings == []


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_overlay_properties(kc, build, overlay: str) -> None:
    docs = build(overlay)
    assert kc.check_workloads(docs) == []
    assert kc.check_no_secret_values(docs) == []
    assert kc.check_network_policies(docs) == []
    assert kc.check_profile(overlay, docs) == []


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_overlay_renders_the_same_objects_as_the_chart(kc, build, overlay: str) -> None:
    assert kc.check_overlay_parity(overlay, build(overlay)) == []


def test_prod_overlay_is_highly_available(build) -> None:
    docs = build("prod")
    deps = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    assert len(deps) == 6 and all(d["spec"]["replicas"] >= 3 for d in deps.values())
    assert len([d for d in docs if d["kind"] == "PodDisruptionBudget"]) == 6
    for dep in deps.values():
        assert "podAntiAffinity" in dep["spec"]["template"]["spec"]["affinity"]


def test_parity_check_detects_drift(kc, build) -> None:
    docs = copy.deepcopy(build("prod"))
    for d in docs:
        if d["kind"] == "Deployment" and d["metadata"]["name"] == "granary-process":
            d["spec"]["replicas"] = 2
    problems = kc.check_overlay_parity("prod", docs)
    assert len(problems) == 1 and "Deployment/granary-process differs" in problems[0]


def test_migration_job_name_changes_with_the_version(build) -> None:
    jobs = [d for d in build("prod") if d["kind"] == "Job"]
    assert len(jobs) == 1 and jobs[0]["metadata"]["name"] == "granary-migrate-0-1-0"
    assert "annotations" not in jobs[0]["metadata"] or not any(
        k.startswith("helm.sh/") for k in jobs[0]["metadata"]["annotations"]
    )


def test_make_target_runs_the_whole_check() -> None:
    """`make -f deploy/k8s-check.mk k8s-check` is what `make test` runs: it must pass end to end."""
    proc = subprocess.run(
        ["make", "--no-print-directory", "-f", "deploy/k8s-check.mk", "k8s-check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "k8s-check: all checks passed" in proc.stdout
    assert "ok  kustomize prod: same objects as the chart" in proc.stdout
