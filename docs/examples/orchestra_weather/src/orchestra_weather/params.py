"""The parameter model of the ``weather_refresh`` job: types, aliases, validators, help."""

from __future__ import annotations

from typing import Any

from attrs import frozen, validators

from orchestra_core import parameter

#: The values ``units`` accepts.
UNITS = ("metric", "imperial", "standard")


def _not_blank(instance: Any, attribute: Any, value: str) -> None:
    if not value.strip():
        raise ValueError(f"{attribute.name} must not be empty")


def _positive(instance: Any, attribute: Any, value: float) -> None:
    if value <= 0:
        raise ValueError(f"must be more than 0 seconds, got {value}")


@frozen(kw_only=True)
class WeatherRefresh:
    """Parameters of ``weather_refresh``: refresh one station's observations and wait."""

    station: str = parameter(aliases=("station_id", "stationId"), validator=_not_blank,
                             help="the station code, e.g. KSFO")
    units: str = parameter(
        default="metric", validator=validators.in_(UNITS),
        help="unit system of the stored values: metric, imperial or standard",
    )
    poll_interval: float = parameter(
        default=10.0, validator=_positive,
        help="seconds between status checks while waiting (shortened under --simulate)",
    )
