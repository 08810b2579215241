"""Orchestra: an embeddable, plugin-based data-pipeline orchestrator."""

from ._config import parameter as parameter
from ._errors import ConfigError as ConfigError
from ._errors import DeliveryFailed as DeliveryFailed
from ._errors import JobNotExecutable as JobNotExecutable
from ._errors import OrchestraError as OrchestraError
from ._errors import PluginError as PluginError
from ._errors import TaskFailed as TaskFailed
from ._errors import WebhookRejected as WebhookRejected
from ._host import Orchestra as Orchestra
from ._host import PluginInfo as PluginInfo
from ._markers import hookimpl as hookimpl
from ._models import Connection as Connection
from ._models import Delivery as Delivery
from ._models import DeliveryReceipt as DeliveryReceipt
from ._models import ExternalRun as ExternalRun
from ._models import JobResult as JobResult
from ._models import JobState as JobState
from ._models import Notification as Notification
from ._models import Problem as Problem
from ._models import WebhookEvent as WebhookEvent
from ._models import WebhookRequest as WebhookRequest
from ._pipeline import Pipeline as Pipeline
from ._pipeline import RunType as RunType
from ._pipeline import Stage as Stage
from ._pipeline import Task as Task
from ._protocols import Destination as Destination
from ._protocols import JobRunner as JobRunner
from ._protocols import NotificationChannel as NotificationChannel
from ._protocols import RecoveringJobRunner as RecoveringJobRunner
from ._protocols import TaskContext as TaskContext
from ._protocols import WebhookHandler as WebhookHandler
from ._registry import ChannelRegistry as ChannelRegistry
from ._registry import ConnectionSpec as ConnectionSpec
from ._registry import DestinationRegistry as DestinationRegistry
from ._registry import IntegrationRegistry as IntegrationRegistry
from ._registry import JobType as JobType

__version__ = "0.1.0"

__all__ = (
    "ChannelRegistry",
    "ConfigError",
    "Connection",
    "ConnectionSpec",
    "Delivery",
    "DeliveryFailed",
    "DeliveryReceipt",
    "Destination",
    "DestinationRegistry",
    "ExternalRun",
    "IntegrationRegistry",
    "JobNotExecutable",
    "JobResult",
    "JobRunner",
    "JobState",
    "JobType",
    "Notification",
    "NotificationChannel",
    "Orchestra",
    "OrchestraError",
    "Pipeline",
    "PluginError",
    "PluginInfo",
    "Problem",
    "RecoveringJobRunner",
    "RunType",
    "Stage",
    "Task",
    "TaskContext",
    "TaskFailed",
    "WebhookEvent",
    "WebhookHandler",
    "WebhookRequest",
    "__version__",
    "hookimpl",
    "parameter",
)
