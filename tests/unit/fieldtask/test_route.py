"""Route planning: nearest neighbour + 2-opt over haversine, on fixed points with a known answer."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime

from services.fieldtask.domain.geo import Position, haversine_m
from services.fieldtask.domain.route import Stop, path_length, plan_route

START = Position(30.0, 120.0)
# Six villages around a township. Nearest neighbour alone walks D F E C A B (15 747 m);
# 2-opt turns that into C A B D F E, which is also the shortest of all 720 orders.
STOPS = [
    Stop("A", Position(29.995, 120.020)),
    Stop("B", Position(29.977, 119.983)),
    Stop("C", Position(30.008, 120.027)),
    Stop("D", Position(30.005, 119.994)),
    Stop("E", Position(30.029, 119.973)),
    Stop("F", Position(30.022, 119.987)),
]


def _sphere(a: Position, b: Position) -> float:
    # An independent spherical law of cosines on the same radius, as the oracle.
    la1, la2 = math.radians(a.latitude), math.radians(b.latitude)
    dl = math.radians(b.longitude - a.longitude)
    return 6371000.0 * math.acos(min(1.0, math.sin(la1) * math.sin(la2) + math.cos(la1) * math.cos(la2) * math.cos(dl)))


LEGS = [2748, 1595, 4087, 3289, 2007, 1556]


def test_known_order_and_distance() -> None:
    route = plan_route(START, STOPS)
    assert route.order == ["C", "A", "B", "D", "F", "E"]
    positions = {s.id: s.position for s in STOPS}
    path = [START, *(positions[i] for i in route.order)]
    expected = sum(_sphere(a, b) for a, b in itertools.pairwise(path))
    assert math.isclose(route.total_m, expected, abs_tol=0.01)
    assert round(route.total_m) == 15282
    assert [round(leg.distance_m) for leg in route.legs] == LEGS
    assert math.isclose(route.legs[-1].cumulative_m, route.total_m)


def test_two_opt_improves_on_nearest_neighbour() -> None:
    from services.fieldtask.domain.route import _nearest_neighbour

    greedy = _nearest_neighbour(START, STOPS)
    assert [s.id for s in greedy] == ["D", "F", "E", "C", "A", "B"]
    assert round(path_length(START, greedy)) == 15747


def test_it_is_the_shortest_open_path_here() -> None:
    route = plan_route(START, STOPS)
    best = min(itertools.permutations(STOPS), key=lambda p: path_length(START, p))
    assert math.isclose(route.total_m, path_length(START, best), abs_tol=0.01)


def test_deterministic_whatever_the_input_order() -> None:
    orders = {tuple(plan_route(START, list(p)).order) for p in itertools.permutations(STOPS)}
    assert len(orders) == 1


def test_urgent_stops_first() -> None:
    day_end = datetime(2026, 3, 2, 16, 0, tzinfo=UTC)
    stops = [
        Stop("near", Position(30.0, 120.001), priority=3),
        Stop("far-urgent", Position(30.0, 120.05), priority=1),
        Stop("due-today", Position(30.0, 120.04), priority=3, due_at=datetime(2026, 3, 2, 10, 0, tzinfo=UTC)),
        Stop("due-later", Position(30.0, 120.002), priority=3, due_at=datetime(2026, 3, 5, 10, 0, tzinfo=UTC)),
    ]
    route = plan_route(START, stops, day_end=day_end)
    assert route.order == ["due-today", "far-urgent", "due-later", "near"]
    assert [leg.urgent for leg in route.legs] == [True, True, False, False]


def test_haversine_matches_a_known_distance() -> None:
    # One degree of longitude on the equator on a 6371 km sphere.
    assert math.isclose(haversine_m(Position(0, 0), Position(0, 1)), 111194.93, abs_tol=0.01)
    assert plan_route(START, []).total_m == 0
