import orchestra_core
from orchestra_core import hookspecs


def test_all_is_pinned():
    assert set(orchestra_core.__all__) == {
        # the host and the plugin contract
        "Orchestra", "PluginInfo", "hookimpl", "parameter", "IntegrationRegistry", "JobType",
        "ConnectionSpec", "DestinationRegistry", "ChannelRegistry", "JobRunner",
        "RecoveringJobRunner", "TaskContext", "Destination", "NotificationChannel",
        "WebhookHandler",
        # models
        "Pipeline", "Task", "Stage", "RunType", "TaskRetry", "HttpRetry", "backoff",
        "Connection", "Delivery", "DeliveryReceipt", "DeliveryFile", "RecordBatch",
        "DeliveryCheckpoints", "ExternalRun", "Intent", "JobResult", "JobState",
        "Notification", "Problem", "WebhookEvent", "WebhookRequest", "Redactor",
        # errors
        "OrchestraError", "ConfigError", "PluginError", "JobNotExecutable", "TaskFailed",
        "DeliveryFailed", "WebhookRejected", "SecretsError", "StoreError", "VendorHTTPError",
        # running, storing, secrets, queues, scheduling, serving
        "Engine", "RunResult", "TaskState", "Transition", "Store", "Secrets", "KeyRing",
        "generate_key", "Queues", "PipelineRegistry", "Scheduler", "next_fire", "Service",
        "FireTime", "preview_fires",
        "create_app", "create_api", "verify_signature",
        # for plugin authors: vendor APIs and their webhooks
        "VendorClient", "RateLimit", "ReadFailures", "parse_timestamp", "format_timestamp",
        "webhook_secrets",
        "__version__",
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


def test_import_stays_light():
    import subprocess
    import sys

    code = ("import sys, orchestra_core; print(sorted(m for m in ('cattrs', 'yaml', 'sqlalchemy',"
            " 'starlette', 'httpx', 'anyio', 'croniter', 'cryptography') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_public_names_come_from_private_modules_only_through_the_package():
    import pkgutil

    public = [m.name for m in pkgutil.iter_modules(orchestra_core.__path__)
              if not m.name.startswith("_")]
    assert sorted(public) == ["cli", "hookspecs", "testing"]
