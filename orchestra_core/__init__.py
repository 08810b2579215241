"""Orchestra: an embeddable, plugin-based data-pipeline orchestrator.

Everything public is exported here and listed in ``__all__`` (pinned by
``tests/test_public_api.py``); every other module of the package is private. The test kit is
:mod:`orchestra_core.testing`, the hooks are documented in :mod:`orchestra_core.hookspecs`.

The errors load with the package; everything else (the models, the host, the engine, the
store, the vendor HTTP client, ...) is imported the first time one of its names is used, so
``import orchestra_core`` stays light and ``orchestra --help`` starts fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._errors import ConfigError as ConfigError
from ._errors import DeliveryFailed as DeliveryFailed
from ._errors import JobNotExecutable as JobNotExecutable
from ._errors import OrchestraError as OrchestraError
from ._errors import PluginError as PluginError
from ._errors import TaskFailed as TaskFailed
from ._errors import WebhookRejected as WebhookRejected

__version__ = "0.1.0"

#: Public names loaded on first use, and the private module each comes from.
_LAZY: dict[str, str] = {
    # the plugin marker, models, protocols (light, but they import pluggy and attrs)
    "hookimpl": "._markers",
    "Connection": "._models",
    "Delivery": "._models",
    "DeliveryFile": "._models",
    "DeliveryReceipt": "._models",
    "ExternalRun": "._models",
    "Intent": "._models",
    "JobResult": "._models",
    "JobState": "._models",
    "Notification": "._models",
    "Problem": "._models",
    "RecordBatch": "._models",
    "WebhookEvent": "._models",
    "WebhookRequest": "._models",
    "Pipeline": "._pipeline",
    "RunType": "._pipeline",
    "Stage": "._pipeline",
    "Task": "._pipeline",
    "DeliveryCheckpoints": "._protocols",
    "Destination": "._protocols",
    "JobRunner": "._protocols",
    "NotificationChannel": "._protocols",
    "RecoveringJobRunner": "._protocols",
    "TaskContext": "._protocols",
    "WebhookHandler": "._protocols",
    "Redactor": "._redaction",
    "HttpRetry": "._retry",
    "TaskRetry": "._retry",
    "backoff": "._retry",
    # the host and the plugin contract
    "Orchestra": "._host",
    "PluginInfo": "._host",
    "parameter": "._config",
    "ChannelRegistry": "._registry",
    "ConnectionSpec": "._registry",
    "DestinationRegistry": "._registry",
    "IntegrationRegistry": "._registry",
    "JobType": "._registry",
    # running
    "Engine": "._engine",
    "RunResult": "._engine",
    "TaskState": "._engine",
    "Transition": "._engine",
    "Store": "._store",
    "StoreError": "._store",
    # constants, credentials, connections
    "KeyRing": "._secrets",
    "Secrets": "._secrets",
    "SecretsError": "._secrets",
    "generate_key": "._secrets",
    # queues, scheduling, serving
    "Queues": "._queues",
    "PipelineRegistry": "._scheduling.registry",
    "Scheduler": "._scheduling.scheduler",
    "next_fire": "._triggers.times",
    "FireTime": "._triggers.preview",
    "preview_fires": "._triggers.preview",
    "Service": "._service",
    "create_app": "._server",
    "create_api": "._api",
    "verify_signature": "._builtins.notifications",
    # for plugin authors: vendor APIs and their webhooks
    "RateLimit": "._vendor_http",
    "ReadFailures": "._vendor_http",
    "VendorClient": "._vendor_http",
    "VendorHTTPError": "._vendor_http",
    "format_timestamp": "._vendor_http",
    "parse_timestamp": "._vendor_http",
    "webhook_secrets": "._server.webhooks",
}

if TYPE_CHECKING:
    from ._api import create_api as create_api
    from ._builtins.notifications import verify_signature as verify_signature
    from ._config import parameter as parameter
    from ._engine import Engine as Engine
    from ._engine import RunResult as RunResult
    from ._engine import TaskState as TaskState
    from ._engine import Transition as Transition
    from ._host import Orchestra as Orchestra
    from ._host import PluginInfo as PluginInfo
    from ._markers import hookimpl as hookimpl
    from ._models import Connection as Connection
    from ._models import Delivery as Delivery
    from ._models import DeliveryFile as DeliveryFile
    from ._models import DeliveryReceipt as DeliveryReceipt
    from ._models import ExternalRun as ExternalRun
    from ._models import Intent as Intent
    from ._models import JobResult as JobResult
    from ._models import JobState as JobState
    from ._models import Notification as Notification
    from ._models import Problem as Problem
    from ._models import RecordBatch as RecordBatch
    from ._models import WebhookEvent as WebhookEvent
    from ._models import WebhookRequest as WebhookRequest
    from ._pipeline import Pipeline as Pipeline
    from ._pipeline import RunType as RunType
    from ._pipeline import Stage as Stage
    from ._pipeline import Task as Task
    from ._protocols import DeliveryCheckpoints as DeliveryCheckpoints
    from ._protocols import Destination as Destination
    from ._protocols import JobRunner as JobRunner
    from ._protocols import NotificationChannel as NotificationChannel
    from ._protocols import RecoveringJobRunner as RecoveringJobRunner
    from ._protocols import TaskContext as TaskContext
    from ._protocols import WebhookHandler as WebhookHandler
    from ._queues import Queues as Queues
    from ._redaction import Redactor as Redactor
    from ._registry import ChannelRegistry as ChannelRegistry
    from ._registry import ConnectionSpec as ConnectionSpec
    from ._registry import DestinationRegistry as DestinationRegistry
    from ._registry import IntegrationRegistry as IntegrationRegistry
    from ._registry import JobType as JobType
    from ._retry import HttpRetry as HttpRetry
    from ._retry import TaskRetry as TaskRetry
    from ._retry import backoff as backoff
    from ._scheduling.registry import PipelineRegistry as PipelineRegistry
    from ._scheduling.scheduler import Scheduler as Scheduler
    from ._secrets import KeyRing as KeyRing
    from ._secrets import Secrets as Secrets
    from ._secrets import SecretsError as SecretsError
    from ._secrets import generate_key as generate_key
    from ._server import create_app as create_app
    from ._server.webhooks import webhook_secrets as webhook_secrets
    from ._service import Service as Service
    from ._store import Store as Store
    from ._store import StoreError as StoreError
    from ._triggers.preview import FireTime as FireTime
    from ._triggers.preview import preview_fires as preview_fires
    from ._triggers.times import next_fire as next_fire
    from ._vendor_http import RateLimit as RateLimit
    from ._vendor_http import ReadFailures as ReadFailures
    from ._vendor_http import VendorClient as VendorClient
    from ._vendor_http import VendorHTTPError as VendorHTTPError
    from ._vendor_http import format_timestamp as format_timestamp
    from ._vendor_http import parse_timestamp as parse_timestamp


def __getattr__(name: str) -> Any:
    """Load a public name from its private module the first time it is used."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = (
    "ChannelRegistry",
    "ConfigError",
    "Connection",
    "ConnectionSpec",
    "Delivery",
    "DeliveryCheckpoints",
    "DeliveryFailed",
    "DeliveryFile",
    "DeliveryReceipt",
    "Destination",
    "DestinationRegistry",
    "Engine",
    "ExternalRun",
    "FireTime",
    "HttpRetry",
    "IntegrationRegistry",
    "Intent",
    "JobNotExecutable",
    "JobResult",
    "JobRunner",
    "JobState",
    "JobType",
    "KeyRing",
    "Notification",
    "NotificationChannel",
    "Orchestra",
    "OrchestraError",
    "Pipeline",
    "PipelineRegistry",
    "PluginError",
    "PluginInfo",
    "Problem",
    "Queues",
    "RateLimit",
    "ReadFailures",
    "RecordBatch",
    "RecoveringJobRunner",
    "Redactor",
    "RunResult",
    "RunType",
    "Scheduler",
    "Secrets",
    "SecretsError",
    "Service",
    "Stage",
    "Store",
    "StoreError",
    "Task",
    "TaskContext",
    "TaskFailed",
    "TaskRetry",
    "TaskState",
    "Transition",
    "VendorClient",
    "VendorHTTPError",
    "WebhookEvent",
    "WebhookHandler",
    "WebhookRejected",
    "WebhookRequest",
    "__version__",
    "backoff",
    "create_api",
    "create_app",
    "format_timestamp",
    "generate_key",
    "hookimpl",
    "next_fire",
    "parameter",
    "parse_timestamp",
    "preview_fires",
    "verify_signature",
    "webhook_secrets",
)
