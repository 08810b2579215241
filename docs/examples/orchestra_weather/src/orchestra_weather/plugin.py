"""Hook implementations: register the ``weather`` integration and check its tasks."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from orchestra_core import DestinationRegistry, IntegrationRegistry, JobType, Problem, hookimpl

from .destination import ArchiveOptions, WeatherArchive
from .params import UNITS, WeatherRefresh
from .runner import WeatherRunner


@hookimpl
def orchestra_register_integrations(registry: IntegrationRegistry) -> None:
    """Register the ``weather`` integration and its ``weather_refresh`` job."""
    weather = registry.integration("weather", description="A weather service's station data")
    weather.job(
        "weather_refresh",
        parameters=WeatherRefresh,
        description="Refresh one station's observations and wait until they are stored",
        runner=WeatherRunner,
        phase="ingestion",
    )


@hookimpl
def orchestra_register_destinations(registry: DestinationRegistry) -> None:
    """Register the ``weather_archive`` destination type."""
    registry.add("weather_archive", factory=WeatherArchive, options=ArchiveOptions,
                 description="Every delivered record in one JSON Lines file")


@hookimpl
def orchestra_validate_task(job: JobType, parameters: Any, path: str) -> Iterable[Problem]:
    """Check ``station`` and ``units``. Every plugin sees every task: skip the others'."""
    if job.integration != "weather" or not isinstance(parameters, WeatherRefresh):
        return []
    problems = []
    if not parameters.station.strip():
        problems.append(Problem(
            path=f"{path}.parameters.station",
            message="station must not be empty",
            code="invalid-value",
        ))
    if parameters.units not in UNITS:
        problems.append(Problem(
            path=f"{path}.parameters.units",
            message=f"expected one of {', '.join(UNITS)}, got {parameters.units!r}",
            code="invalid-value",
        ))
    return problems
