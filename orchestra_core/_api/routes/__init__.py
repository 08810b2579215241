"""The API's routes, one module per area; :data:`ENDPOINTS` lists them all."""

from __future__ import annotations

from . import (
             audit,
             delivery,
             logs,
             notifications,
             pipelines,
             queues,
             resolutions,
             runs,
             secrets,
             triggers,
)

__all__ = ("ENDPOINTS",)

ENDPOINTS = [*pipelines.ENDPOINTS, *runs.ENDPOINTS, *resolutions.ENDPOINTS, *logs.ENDPOINTS,
             *triggers.ENDPOINTS, *queues.ENDPOINTS, *secrets.ENDPOINTS,
             *notifications.ENDPOINTS, *delivery.ENDPOINTS,
             *audit.ENDPOINTS]
