"""A compact seed of 12-digit statistical division codes (统计用区划代码) for the demo county.

Levels: province (2 digits significant), city (4), county (6), township (9), village (12).
Operators load their own county's table the same way (one row per code); a full national
table is not shipped. The demo county is 浦江县 (330726), where the demo customers live.
"""

from __future__ import annotations

# (code, name, level, parent_code)
DEMO_REGIONS: tuple[tuple[str, str, int, str | None], ...] = (
    ("330000000000", "浙江省", 1, None),
    ("330700000000", "金华市", 2, "330000000000"),
    ("330726000000", "浦江县", 3, "330700000000"),
    ("330726001000", "浦阳街道", 4, "330726000000"),
    ("330726001001", "和平社区", 5, "330726001000"),
    ("330726001201", "塔山村", 5, "330726001000"),
    ("330726101000", "黄宅镇", 4, "330726000000"),
    ("330726101201", "黄宅村", 5, "330726101000"),
    ("330726101202", "新光村", 5, "330726101000"),
    ("330726102000", "岩头镇", 4, "330726000000"),
    ("330726102201", "岩头村", 5, "330726102000"),
    ("330726102202", "礼张村", 5, "330726102000"),
    ("330726103000", "郑宅镇", 4, "330726000000"),
    ("330726103201", "东明村", 5, "330726103000"),
    ("330726103202", "冷水村", 5, "330726103000"),
    ("330726104000", "檀溪镇", 4, "330726000000"),
    ("330726104201", "檀溪村", 5, "330726104000"),
)
