"""Orchestra plugin ``orchestra-weather``: the ``weather`` integration and its job.

The hook implementations live in :mod:`orchestra_weather.plugin`, the module the ``orchestra``
entry point names.
"""

from .params import WeatherRefresh
from .runner import WeatherRunner

__version__ = "0.1.0"

__all__ = ("WeatherRefresh", "WeatherRunner", "__version__")
