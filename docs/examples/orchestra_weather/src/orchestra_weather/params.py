"""The parameter model of the ``weather_refresh`` job."""

from __future__ import annotations

from attrs import frozen

from orchestra_core import parameter

#: The values ``units`` accepts (checked by the plugin's ``orchestra_validate_task``).
UNITS = ("metric", "imperial", "standard")


@frozen(kw_only=True)
class WeatherRefresh:
    """Parameters of ``weather_refresh``: refresh one station's observations and wait."""

    station: str = parameter(aliases=("station_id",), help="the station code, e.g. KSFO")
    units: str = parameter(
        default="metric", help="unit system of the stored values: metric, imperial or standard"
    )
