"""Hook implementations: register the ``weather`` integration and the ``weather_archive``
destination, and check a pipeline's weather tasks against each other."""

from __future__ import annotations

from collections.abc import Iterable

from orchestra_core import (
    ConnectionSpec,
    DestinationRegistry,
    IntegrationRegistry,
    JobType,
    Pipeline,
    Problem,
    Task,
    hookimpl,
)

from .destination import ArchiveOptions, WeatherArchive
from .params import WeatherRefresh
from .runner import DEFAULT_BASE_URL, WeatherRunner

#: What a ``weather`` connection holds. ``env`` names the quick-start variables a task that
#: names no stored connection reads; ``--simulate`` sets them to its simulator's URL and
#: ``credentials()``, so it names ``base_url`` and every credential key.
CONNECTION = ConnectionSpec(
    secrets=("token",),
    auth="bearer",
    base_url=DEFAULT_BASE_URL,
    env={"token": "WEATHER_TOKEN", "base_url": "WEATHER_BASE_URL"},
)


@hookimpl
def orchestra_register_integrations(registry: IntegrationRegistry) -> None:
    """Register the ``weather`` integration and its ``weather_refresh`` job."""
    weather = registry.integration(
        "weather",
        description="A weather service's station data",
        connection=CONNECTION,
        simulator="orchestra_weather.simulator:WeatherSimulator",
    )
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
def orchestra_validate_task(task: Task, job: JobType, parameters: object, pipeline: Pipeline,
                            path: str) -> Iterable[Problem]:
    """Refuse a second task refreshing the same station in one pipeline (the service would
    refuse the second refresh while the first runs). Field checks are the parameter
    model's validators; this hook is for what needs the whole pipeline. Every plugin sees
    every task: skip the others'."""
    if job.integration != "weather" or not isinstance(parameters, WeatherRefresh):
        return []
    station = parameters.station.upper()
    for other in pipeline.tasks:
        if other.id == task.id:
            return []
        if (other.integration == "weather"
                and str(other.parameters.get("station", "")).upper() == station):
            return [Problem(path=f"{path}.parameters.station",
                            message=f"task {other.id!r} refreshes station {station} already",
                            code="invalid-value")]
    return []
