"""The process-owner guide lists every service-task operator of the catalogue, as generated.

The table between the ``operators:begin`` and ``operators:end`` markers of
docs/process-owner-guide.md is rendered from services/process/domain/operators.py; after
changing the catalogue, rewrite it with ``python tests/unit/process/test_owner_guide.py``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from services.process.domain.operators import CATALOGUE  # noqa: E402

GUIDE = ROOT / "docs" / "process-owner-guide.md"
BEGIN, END = "<!-- operators:begin -->", "<!-- operators:end -->"


def render_operator_table() -> str:
    rows = ["| operator | parameters (`?` = optional) | what it does |", "|---|---|---|"]
    for name in sorted(CATALOGUE):
        spec = CATALOGUE[name]
        params = "<br>".join(
            f"`{p}{'' if param.required else '?'}: {param.type}`"
            + (f" — {param.description}" if param.description else "")
            for p, param in spec.params.items()
        )
        rows.append(f"| `{name}` | {params} | {spec.description.replace('|', '/')} |")
    return "\n".join(rows)


def _generated_block(text: str) -> str:
    match = re.search(re.escape(BEGIN) + r"\n(.*?)\n" + re.escape(END), text, re.S)
    assert match, "the guide has no operators:begin/end block"
    return match.group(1)


def test_the_guide_lists_every_operator_as_generated_from_the_catalogue() -> None:
    block = _generated_block(GUIDE.read_text(encoding="utf-8"))
    listed = re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \|", block, re.M)
    assert sorted(listed) == sorted(CATALOGUE)
    assert block == render_operator_table(), "regenerate: python tests/unit/process/test_owner_guide.py"


def test_every_parameter_of_every_operator_is_in_the_guide() -> None:
    block = _generated_block(GUIDE.read_text(encoding="utf-8"))
    for name, spec in CATALOGUE.items():
        row = next(line for line in block.splitlines() if line.startswith(f"| `{name}` |"))
        for param, declared in spec.params.items():
            assert f"`{param}{'' if declared.required else '?'}: {declared.type}`" in row, (name, param)


if __name__ == "__main__":
    text = GUIDE.read_text(encoding="utf-8")
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    GUIDE.write_text(text[:start] + "\n" + render_operator_table() + "\n" + text[end:], encoding="utf-8")
