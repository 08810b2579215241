"""Orchestra: an embeddable, plugin-based data-pipeline orchestrator."""

from ._markers import hookimpl as hookimpl
from .config import parameter as parameter
from .errors import ConfigError as ConfigError
from .errors import DeliveryFailed as DeliveryFailed
from .errors import JobNotExecutable as JobNotExecutable
from .errors import OrchestraError as OrchestraError
from .errors import PluginError as PluginError
from .errors import TaskFailed as TaskFailed
from .errors import WebhookRejected as WebhookRejected
from .host import Orchestra as Orchestra
from .host import PluginInfo as PluginInfo
from .models import Connection as Connection
from .models import Delivery as Delivery
from .models import DeliveryReceipt as DeliveryReceipt
from .models import ExternalRun as ExternalRun
from .models import JobResult as JobResult
from .models import JobState as JobState
from .models import Notification as Notification
from .models import Problem as Problem
from .models import WebhookEvent as WebhookEvent
from .models import WebhookRequest as WebhookRequest
from .pipeline import Pipeline as Pipeline
from .pipeline import RunType as RunType
from .pipeline import Stage as Stage
from .pipeline import Task as Task
from .protocols import Destination as Destination
from .protocols import JobRunner as JobRunner
from .protocols import NotificationChannel as NotificationChannel
from .protocols import RecoveringJobRunner as RecoveringJobRunner
from .protocols import TaskContext as TaskContext
from .protocols import WebhookHandler as WebhookHandler
from .registry import ChannelRegistry as ChannelRegistry
from .registry import ConnectionSpec as ConnectionSpec
from .registry import DestinationRegistry as DestinationRegistry
from .registry import IntegrationRegistry as IntegrationRegistry
from .registry import JobType as JobType

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
