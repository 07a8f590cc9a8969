"""What can be checked of deploy/Dockerfile without a Docker engine."""

from __future__ import annotations

import ast
import fnmatch
import json
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from services.common.settings import DEFAULT_GRPC_PORTS, SERVICE_NAMES, GatewaySettings

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, keyword: str) -> list[str]:
        return [rest for kw, rest in self.instructions if kw == keyword]


def parse_dockerfile(text: str) -> tuple[dict[str, str], list[Stage]]:
    """(global ARG defaults, stages) of a plain Dockerfile (continuations joined, comments dropped)."""
    lines: list[str] = []
    buf = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            buf += stripped[:-1] + " "
            continue
        lines.append(buf + stripped)
        buf = ""
    assert not buf, "dangling line continuation at the end of the Dockerfile"
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in lines:
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            parts = rest.split()
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else str(len(stages))
            stages.append(Stage(parts[0], name))
        elif not stages:
            assert keyword == "ARG", f"only ARG may precede FROM, found {keyword}"
            arg_name, _, default = rest.partition("=")
            global_args[arg_name.strip()] = default.strip()
        else:
            stages[-1].instructions.append((keyword, rest.strip()))
    return global_args, stages


def dockerfile() -> tuple[dict[str, str], list[Stage]]:
    assert DOCKERFILE.is_file(), "deploy/Dockerfile is missing"
    return parse_dockerfile(DOCKERFILE.read_text())


def copy_sources(rest: str) -> list[str]:
    words = json.loads(rest) if rest.startswith("[") else shlex.split(rest)
    words = [w for w in words if not w.startswith("--")]
    assert len(words) >= 2, f"COPY needs a source and a destination: {rest}"
    return words[:-1]


def ignore_patterns() -> list[str]:
    assert DOCKERIGNORE.is_file(), ".dockerignore is missing"
    return [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


def ignored(path: str, patterns: list[str]) -> bool:
    result = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern[1:] if negate else pattern
        pat = pat.strip("/")
        candidates = [pat, pat.removeprefix("**/")]
        if any(
            fnmatch.fnmatch(path, c) or (path.startswith(c.rstrip("*") + "/") and "*" not in c)
            for c in candidates
        ):
            result = not negate
    return result


def test_dockerfile_is_multi_stage_with_a_pinned_slim_python_base() -> None:
    global_args, stages = dockerfile()
    assert len(stages) >= 2, "build and runtime stages expected"
    for stage in stages:
        base = stage.base
        match = re.fullmatch(r"\$\{?(\w+)\}?", base)
        if match:
            base = global_args.get(match.group(1), "")
        assert re.fullmatch(r"python:3\.1[1-3]\.\d+-slim-(bookworm|trixie)(@sha256:[0-9a-f]{64})?", base), (
            f"stage {stage.name}: base {base!r} is not a slim Python pinned by exact tag or digest"
        )


def test_every_copy_source_exists_and_is_in_the_build_context() -> None:
    _, stages = dockerfile()
    patterns = ignore_patterns()
    stage_names = {s.name for s in stages}
    checked = 0
    for stage in stages:
        for rest in stage.args("COPY") + stage.args("ADD"):
            if "--from=" in rest:
                source_stage = re.search(r"--from=(\S+)", rest).group(1)  # type: ignore[union-attr]
                assert source_stage in stage_names, f"COPY --from={source_stage}: no such stage"
                continue
            for source in copy_sources(rest):
                assert (ROOT / source).exists(), f"COPY source {source!r} does not exist in the repository"
                assert not ignored(source.rstrip("/"), patterns), (
                    f"COPY source {source!r} is excluded by .dockerignore"
                )
                checked += 1
    assert checked >= 3, "expected COPY of pyproject.toml and the source trees"


def test_build_context_has_what_pip_install_needs() -> None:
    """pyproject's readme and the package roots must be copied, or `pip install .` fails in the image."""
    _, stages = dockerfile()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    copied = {
        s.rstrip("/").removeprefix("./")
        for st in stages
        for r in st.args("COPY")
        if "--from=" not in r
        for s in copy_sources(r)
    }
    needed = {"pyproject.toml", "services", "gateway", "proto", "bpmn"}
    readme = pyproject["project"].get("readme")
    if isinstance(readme, str):
        needed.add(readme)
    for where in (
        pyproject.get("tool", {}).get("setuptools", {}).get("packages", {}).get("find", {}).get("where", [])
    ):
        if where != ".":
            needed.add(where)
    assert needed <= copied, f"not copied into the build stage: {sorted(needed - copied)}"


def test_entrypoint_is_the_granary_console_script() -> None:
    _, stages = dockerfile()
    final = stages[-1]
    entry = final.args("ENTRYPOINT")
    assert entry and json.loads(entry[-1]) == ["granary"], f'ENTRYPOINT should be ["granary"], got {entry}'
    cmd = json.loads(final.args("CMD")[-1])
    assert cmd[0] == "serve" and cmd[1] in (*SERVICE_NAMES, "gateway")

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert "granary" in scripts, "[project.scripts] does not declare `granary`"
    module, _, func = scripts["granary"].partition(":")
    path = ROOT / (module.replace(".", "/") + ".py")
    if not path.exists():
        path = ROOT / module.replace(".", "/") / "__init__.py"
    assert path.exists(), f"entry point module {module} ({path.relative_to(ROOT)}) does not exist"
    tree = ast.parse(path.read_text())
    names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    names |= {
        t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)
    }
    assert func in names, f"{module} defines no {func}()"

    installed = {
        ep.name: ep.value
        for ep in metadata.entry_points(group="console_scripts")
        if ep.dist and ep.dist.name == "granary"
    }
    assert installed.get("granary") == scripts["granary"], (
        "the installed granary distribution does not expose the `granary` console script "
        "(reinstall: pip install -e '.[dev]')"
    )


def test_exposed_ports_match_the_settings_defaults() -> None:
    _, stages = dockerfile()
    exposed = {int(p.split("/")[0]) for rest in stages[-1].args("EXPOSE") for p in rest.split()}
    expected = {int(GatewaySettings.model_fields["port"].default), *DEFAULT_GRPC_PORTS.values()}
    assert exposed == expected


def test_runtime_stage_is_non_root_without_build_tools() -> None:
    _, stages = dockerfile()
    final = stages[-1]
    users = final.args("USER")
    assert users, "the runtime stage sets no USER"
    user = users[-1].split(":")[0]
    assert user.isdigit() and int(user) != 0, f"USER must be a numeric non-root uid, got {users[-1]}"
    runs = " ".join(final.args("RUN"))
    for tool in ("apt-get install", "apk add", "gcc", "build-essential", "pip install", "[dev]", "pytest"):
        assert tool not in runs, f"runtime stage installs {tool!r}"
    for rest in final.args("COPY"):
        assert "--from=" in rest, f"runtime stage copies from the build context: {rest}"
    env = " ".join(final.args("ENV"))
    assert "GRANARY_VAR_DIR=/var/lib/granary" in env
    for name in SERVICE_NAMES:
        assert f"GRANARY_{name.upper()}_GRPC_HOST=0.0.0.0" in env, (
            f"{name} would bind 127.0.0.1 in a container"
        )


def test_dockerignore_keeps_tests_and_secrets_out() -> None:
    patterns = ignore_patterns()
    for path in (".git", ".venv", "tests", "var", ".env", "bench"):
        assert ignored(path, patterns), f"{path} should be in .dockerignore"
    for path in ("services", "proto", "pyproject.toml"):
        assert not ignored(path, patterns), f"{path} must stay in the build context"


def test_dockerfile_parser_catches_a_missing_copy_source(tmp_path: Path) -> None:
    """The checks above can fail: a Dockerfile copying a path that does not exist is detected."""
    _, stages = parse_dockerfile(
        "ARG B=python:3.11.14-slim-bookworm\nFROM ${B} AS build\nCOPY no-such-dir ./x\n"
    )
    sources = [s for r in stages[0].args("COPY") for s in copy_sources(r)]
    assert sources == ["no-such-dir"] and not (ROOT / sources[0]).exists()
    assert ignored("tests", ["tests"]) and not ignored("services", ["tests"])
