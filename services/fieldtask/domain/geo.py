"""Positions on the earth: WGS-84 coordinates, great-circle distance, GCJ-02 conversion.

Chinese map SDKs (AMap/Gaode, Tencent, and Baidu after its own step) report GCJ-02, the
obfuscated datum mandated for published maps; GPS receivers report WGS-84. We store WGS-84
only and record which system the client sent. The GCJ-02 formulas are the well-known public
reconstruction (Krasovsky ellipsoid constants); the inverse is solved by fixed-point
iteration to well under a centimetre.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from services.common.errors import InvalidArgument

EARTH_RADIUS_M = 6371000.0
_A = 6378245.0
_EE = 0.00669342162296594323


class CoordinateSystem(StrEnum):
    WGS84 = "wgs84"
    GCJ02 = "gcj02"


@dataclass(frozen=True)
class Position:
    """A WGS-84 position in decimal degrees."""

    latitude: float
    longitude: float


def check_position(latitude: float, longitude: float, *, field: str = "position") -> Position:
    if not (math.isfinite(latitude) and -90.0 <= latitude <= 90.0):
        raise InvalidArgument.for_field(f"{field}.latitude", "must be between -90 and 90")
    if not (math.isfinite(longitude) and -180.0 <= longitude <= 180.0):
        raise InvalidArgument.for_field(f"{field}.longitude", "must be between -180 and 180")
    return Position(latitude, longitude)


def haversine_m(a: Position, b: Position) -> float:
    """Great-circle distance in metres on a sphere of the earth's mean radius."""
    lat1, lat2 = math.radians(a.latitude), math.radians(b.latitude)
    dlat = lat2 - lat1
    dlon = math.radians(b.longitude - a.longitude)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def out_of_china(p: Position) -> bool:
    """Outside mainland China GCJ-02 equals WGS-84."""
    return not (72.004 <= p.longitude <= 137.8347 and 0.8293 <= p.latitude <= 55.8271)


def _transform_lat(x: float, y: float) -> float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _transform_lon(x: float, y: float) -> float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def _offset(p: Position) -> tuple[float, float]:
    dlat = _transform_lat(p.longitude - 105.0, p.latitude - 35.0)
    dlon = _transform_lon(p.longitude - 105.0, p.latitude - 35.0)
    radlat = p.latitude / 180.0 * math.pi
    magic = 1 - _EE * math.sin(radlat) ** 2
    sqrt_magic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrt_magic) * math.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * math.cos(radlat) * math.pi)
    return dlat, dlon


def wgs84_to_gcj02(p: Position) -> Position:
    if out_of_china(p):
        return p
    dlat, dlon = _offset(p)
    return Position(p.latitude + dlat, p.longitude + dlon)


def gcj02_to_wgs84(p: Position) -> Position:
    """Inverse of ``wgs84_to_gcj02`` by fixed-point iteration (converges in a few steps)."""
    if out_of_china(p):
        return p
    guess = Position(p.latitude, p.longitude)
    for _ in range(30):
        projected = wgs84_to_gcj02(guess)
        dlat, dlon = projected.latitude - p.latitude, projected.longitude - p.longitude
        guess = Position(guess.latitude - dlat, guess.longitude - dlon)
        if abs(dlat) < 1e-10 and abs(dlon) < 1e-10:
            break
    return guess


def to_wgs84(p: Position, system: CoordinateSystem) -> Position:
    return gcj02_to_wgs84(p) if system is CoordinateSystem.GCJ02 else p
