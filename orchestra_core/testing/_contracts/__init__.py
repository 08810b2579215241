"""Standard tests for integration jobs: subclass, set the class attributes, inherit the tests.

Example (``tests/test_contract.py`` of a plugin)::

    from orchestra_core.testing._contracts import IntegrationJobContract
    import orchestra_hightouch.plugin

    class TestHightouchSync(IntegrationJobContract):
        plugin = orchestra_hightouch.plugin
        distribution = "orchestra-hightouch"
        integration = "hightouch"
        job = "hightouch_sync"
        valid_parameters = {"syncid": "12345"}
        required_parameters = ("syncid",)

Two more bases test a vendor plugin's behaviour against its simulator:
:class:`VendorRunnerContract` (start/wait/fail/cancel/resume, retries, no duplicate trigger)
and :class:`WebhookHandlerContract` (signatures, malformed bodies, replays, through the real
``/webhooks/{integration}`` endpoint). See their docstrings and ``docs/simulators.md``.

Overriding an inherited test is refused unless the override is marked
``@pytest.mark.xfail(reason=...)`` (``test_no_overrides_DO_NOT_OVERRIDE``).
"""

from ._destination import DestinationContract as DestinationContract
from ._integration_job import IntegrationJobContract as IntegrationJobContract
from ._vendor_runner import VendorRunnerContract as VendorRunnerContract
from ._webhook_handler import WebhookHandlerContract as WebhookHandlerContract

__all__ = ("DestinationContract", "IntegrationJobContract", "VendorRunnerContract",
           "WebhookHandlerContract")
