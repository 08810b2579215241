import orchestra_core
from orchestra_core import hookspecs


def test_all_is_pinned():
    assert set(orchestra_core.__all__) == {
        "ChannelRegistry", "ConfigError", "Connection", "ConnectionSpec", "Delivery",
        "DeliveryFailed", "DeliveryReceipt", "Destination", "DestinationRegistry", "ExternalRun",
        "IntegrationRegistry",
        "JobNotExecutable", "JobResult", "JobRunner", "JobState", "JobType", "Notification",
        "NotificationChannel", "Orchestra", "OrchestraError", "Pipeline", "PluginError",
        "PluginInfo", "Problem", "RecoveringJobRunner", "RunType", "Stage", "Task",
        "TaskContext", "TaskFailed", "WebhookEvent", "WebhookHandler", "WebhookRequest",
        "__version__", "hookimpl", "parameter",
    }
    for name in orchestra_core.__all__:
        assert hasattr(orchestra_core, name), name


def test_every_hook_is_prefixed_typed_and_documented():
    import inspect

    specs = [n for n in dir(hookspecs) if n.startswith("orchestra_")]
    assert set(specs) == set(hookspecs.__all__)
    for name in specs:
        fn = getattr(hookspecs, name)
        sig = inspect.signature(fn)
        assert sig.return_annotation is not inspect.Signature.empty, name
        assert all(p.annotation is not inspect.Parameter.empty for p in sig.parameters.values())
        assert fn.__doc__ and ".. versionadded::" in fn.__doc__, name


def test_errors_are_orchestra_errors():
    for name in ("ConfigError", "PluginError", "JobNotExecutable", "TaskFailed",
                 "DeliveryFailed", "WebhookRejected"):
        assert issubclass(getattr(orchestra_core, name), orchestra_core.OrchestraError)
