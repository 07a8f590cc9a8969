"""The Helm chart renders, lints and validates offline for every profile, and keeps its promises."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "granary"
PROFILES = ("default", "dev", "prod", "ha")


@pytest.mark.parametrize("profile", PROFILES)
def test_chart_renders_and_lints(kc, render, profile: str) -> None:
    docs = render(profile)
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "Service", "ConfigMap", "NetworkPolicy", "Job", "ServiceAccount"} <= kinds
    assert len([d for d in docs if d["kind"] == "Deployment"]) == 6
    assert kc.lint_chart(profile) == []


@pytest.mark.parametrize("profile", PROFILES)
def test_chart_validates_strictly_for_supported_kubernetes_versions(kc, render, profile: str) -> None:
    errors, warnings = kc.validate_docs(render(profile))
    assert errors == []
    # Only the custom resources (CNPG Cluster, ServiceMonitor) go unvalidated.
    assert all("custom resource" in w for w in warnings)
    assert kc.KUBE_VERSIONS[0] == "1.31" and 'kubeVersion: ">=1.31.0-0"' in (CHART / "Chart.yaml").read_text()


@pytest.mark.parametrize("profile", PROFILES)
def test_every_pod_has_probes_resources_and_a_locked_down_security_context(kc, render, profile: str) -> None:
    assert kc.check_workloads(render(profile)) == []


@pytest.mark.parametrize("profile", PROFILES)
def test_no_secret_values_in_rendered_output(kc, render, profile: str) -> None:
    docs = render(profile)
    assert kc.check_no_secret_values(docs) == []
    assert not [d for d in docs if d["kind"] == "Secret"]


@pytest.mark.parametrize("profile", PROFILES)
def test_network_policies_cover_every_pod(kc, render, profile: str) -> None:
    assert kc.check_network_policies(render(profile)) == []


@pytest.mark.parametrize("profile", PROFILES)
def test_replicas_and_high_availability(kc, render, profile: str) -> None:
    docs = render(profile)
    assert kc.check_profile(profile, docs) == []
    if profile in ("prod", "ha"):
        process = next(
            d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "granary-process"
        )
        hpas = {
            d["spec"]["scaleTargetRef"]["name"]: d for d in docs if d["kind"] == "HorizontalPodAutoscaler"
        }
        replicas = hpas["granary-process"]["spec"]["minReplicas"] if hpas else process["spec"]["replicas"]
        assert replicas >= 2, "timers need the process service on 2+ replicas in HA"


def test_migration_job_is_a_rerunnable_pre_install_pre_upgrade_hook(render) -> None:
    jobs = [d for d in render("default") if d["kind"] == "Job"]
    assert len(jobs) == 1
    job = jobs[0]
    hooks = job["metadata"]["annotations"]["helm.sh/hook"].split(",")
    assert hooks == ["pre-install", "pre-upgrade"]
    assert "before-hook-creation" in job["metadata"]["annotations"]["helm.sh/hook-delete-policy"]
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["migrate"]
    env = {e["name"] for e in container["env"]}
    assert {
        f"GRANARY_{s.upper()}_DATABASE_URL"
        for s in ("customer", "credit", "fieldtask", "notification", "process")
    } <= env
    assert "envFrom" not in container, "a pre-install hook cannot read the release's ConfigMap"
    # With CloudNativePG the databases only exist after install.
    ha_job = next(d for d in render("ha") if d["kind"] == "Job")
    assert ha_job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,pre-upgrade"


def test_ha_profile_uses_cnpg_secrets_by_reference(render) -> None:
    docs = render("ha")
    clusters = [d for d in docs if d["kind"] == "Cluster"]
    assert len(clusters) == 5 and all(c["spec"]["instances"] >= 3 for c in clusters)
    dep = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "granary-credit")
    env = {e["name"]: e for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["CNPG_CREDIT_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "granary-credit-db-app"
    assert env["GRANARY_CREDIT_DATABASE_URL"]["value"].startswith(
        "postgresql+asyncpg://$(CNPG_CREDIT_USERNAME):$(CNPG_CREDIT_PASSWORD)@granary-credit-db-rw:5432/"
    )
    cm = next(d for d in docs if d["kind"] == "ConfigMap")
    assert cm["data"]["GRANARY_NATS_URL"] == "nats://granary-nats:4222"
    assert {d["kind"] for d in docs} >= {
        "Ingress",
        "ServiceMonitor",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    }


def test_nats_is_an_optional_dependency_disabled_by_default(kc) -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    deps = {d["name"]: d for d in chart.get("dependencies", [])}
    assert deps["nats"]["condition"] == "nats.enabled"
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["nats"]["enabled"] is False
    ha = yaml.safe_load((CHART / "values-ha.yaml").read_text())
    assert ha["nats"]["enabled"] is True and ha["nats"]["config"]["cluster"]["replicas"] == 3
    assert ha["nats"]["config"]["jetstream"]["enabled"] is True
    docs = (ROOT / "docs" / "operations.md").read_text()
    assert "helm dependency build" in docs and "charts/" in docs


def test_settings_in_configmap_match_the_platform(render) -> None:
    from services.common.settings import DEFAULT_GRPC_PORTS

    cm = next(d for d in render("default") if d["kind"] == "ConfigMap")["data"]
    for name, port in DEFAULT_GRPC_PORTS.items():
        assert cm[f"GRANARY_{name.upper()}_GRPC_PORT"] == str(port)
        assert cm[f"GRANARY_{name.upper()}_GRPC_HOST"] == "0.0.0.0"
        assert cm[f"GRANARY_{name.upper()}_ADDRESS"] == f"granary-{name}:{port}"
    assert cm["GRANARY_VAR_DIR"] == "/var/lib/granary"
    services = {d["metadata"]["name"]: d for d in render("default") if d["kind"] == "Service"}
    for name, port in DEFAULT_GRPC_PORTS.items():
        assert services[f"granary-{name}"]["spec"]["ports"][0]["port"] == port


# ---------------------------------------------------------------- the checks can fail


def test_schema_rejects_unsafe_values(kc) -> None:
    helm = __import__("helm_python")
    for bad in (
        {"containerSecurityContext": {"readOnlyRootFilesystem": False, "allowPrivilegeEscalation": False}},
        {"podSecurityContext": {"runAsNonRoot": False}},
        {"config": {"env": "staging"}},
        {"components": {"credit": {"port": 0}}},
        {"secrets": {"databases": {"credit": {"name": "", "key": "url"}}}},
        {"unknownKey": 1},
    ):
        with pytest.raises(helm.HelmError):
            kc.render_chart("default", bad)


def test_render_refuses_a_grace_period_shorter_than_the_drain(kc) -> None:
    helm = __import__("helm_python")
    with pytest.raises(helm.HelmError, match="terminationGracePeriodSeconds"):
        kc.render_chart("default", {"terminationGracePeriodSeconds": 12})
    with pytest.raises(helm.HelmError, match=r"otel\.endpoint"):
        kc.render_chart("default", {"config": {"otel": {"exporter": "otlp"}}})


def test_secret_check_flags_a_literal_secret(kc) -> None:
    docs = kc.render_chart("default", {"config": {"extraEnv": {"GRANARY_JWT_SECRET": "x" * 40}}})
    assert any("GRANARY_JWT_SECRET" in p for p in kc.check_no_secret_values(docs))
    leaked = kc.render_chart("default", {"externalNats": {"url": "nats://user:hunter2@nats:4222"}})
    assert any("inline password" in p for p in kc.check_no_secret_values(leaked))


def test_network_policy_check_flags_missing_or_loose_policies(kc, render) -> None:
    open_docs = kc.render_chart("default", {"networkPolicy": {"enabled": False}})
    assert any("default deny" in p for p in kc.check_network_policies(open_docs))
    docs = copy.deepcopy(render("default"))
    for d in docs:  # let the customer service call credit directly: must be refused
        if d["kind"] == "NetworkPolicy" and d["metadata"]["name"] == "granary-credit-ingress":
            d["spec"]["ingress"][0]["from"].append(
                {"podSelector": {"matchLabels": {"app.kubernetes.io/component": "customer"}}}
            )
        if d["kind"] == "NetworkPolicy" and d["metadata"]["name"] == "granary-egress-common":
            d["spec"]["egress"].append({"ports": [{"protocol": "TCP", "port": 50052}]})
    problems = kc.check_network_policies(docs)
    assert any("customer can reach credit" in p for p in problems), problems


def test_workload_check_flags_missing_probe_resources_and_root(kc, render) -> None:
    docs = copy.deepcopy(render("default"))
    dep = next(d for d in docs if d["kind"] == "Deployment")
    container = dep["spec"]["template"]["spec"]["containers"][0]
    del container["readinessProbe"]
    del container["resources"]["limits"]
    container["securityContext"]["readOnlyRootFilesystem"] = False
    container["securityContext"]["runAsUser"] = 0
    dep["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 10
    problems = "\n".join(kc.check_workloads(docs))
    for needle in (
        "readinessProbe missing",
        "limits.memory",
        "readOnlyRootFilesystem",
        "uid 0",
        "terminationGracePeriodSeconds",
    ):
        assert needle in problems


def test_strict_validation_flags_an_unknown_field(kc, render) -> None:
    docs = copy.deepcopy(render("default"))
    dep = next(d for d in docs if d["kind"] == "Deployment")
    dep["spec"]["template"]["spec"]["containers"][0]["readinessprobe"] = {}
    errors, _ = kc.validate_docs([dep])
    assert errors and len(errors) == len(kc.KUBE_VERSIONS) and "readinessprobe" in errors[0]


def test_ha_check_flags_a_single_process_replica(kc) -> None:
    docs = kc.render_chart("prod", {"components": {"process": {"replicas": 1}}})
    assert any("granary-process has 1 replicas" in p for p in kc.check_profile("prod", docs))
