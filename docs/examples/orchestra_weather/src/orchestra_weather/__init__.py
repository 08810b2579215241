"""Orchestra plugin ``orchestra-weather``: the ``weather`` integration and its job.

- :mod:`orchestra_weather.plugin`: the hook implementations (the ``orchestra`` entry point);
- :mod:`orchestra_weather.params`: the job's parameters;
- :mod:`orchestra_weather.runner`: the runner (start, wait, cancel, recover);
- :mod:`orchestra_weather.simulator`: a simulator of the weather service, for the tests and
  ``orchestra run --simulate``.
"""

from .params import WeatherRefresh
from .runner import WeatherRunner

__version__ = "0.2.0"

__all__ = ("WeatherRefresh", "WeatherRunner", "__version__")
