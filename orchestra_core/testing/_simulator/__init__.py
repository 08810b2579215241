"""A kit for vendor simulators: stateful fakes of a vendor's REST API, as Starlette apps.

A plugin's simulator subclasses :class:`Simulator`, keeps the vendor's objects in plain
attributes, serves the vendor's real paths and JSON shapes from :meth:`Simulator.routes`, and
computes every status from ``self.clock.now()`` at request time (a run triggered at ``t0``
with a 10 s duration is "running" until ``t0 + 10 s``, then "succeeded"), so no background
task is needed and a :class:`~orchestra_core.testing.FakeClock` drives it in tests::

    class AcmeSimulator(Simulator):
        name = "acme"
        base_path = "/api"

        def __init__(self, *, token="acme-test-token", **kwargs):
            super().__init__(**kwargs)
            self.token = token
            self.runs = {}

        def routes(self):
            return [Route("/api/jobs/{job}/runs", self.trigger, methods=["POST"]), ...]

        def authenticate(self, request):
            return bearer_token(request) == self.token

        def credentials(self):
            return {"token": self.token}

        def sign(self, body, secret):
            return {"X-Acme-Signature": hmac_sha256(secret, body)}

        async def trigger(self, request):
            run = {"id": len(self.runs) + 1, "created": self.now()}
            self.runs[run["id"]] = run
            self.emit("run.finished", lambda: {"id": run["id"], "state": "succeeded"},
                      delay=self.run_duration)
            return JSONResponse(run)

Using a simulator:

- **In-process**: ``sim.transport`` is an httpx async transport that calls the app directly;
  give it to the client (``Orchestra(transports={"acme": sim.transport})`` or
  ``VendorClient(..., transport=sim.transport)``). ``sim.base_url`` is a URL to go with it.
- **Real server**: ``with sim.serve() as url:`` runs uvicorn on 127.0.0.1 (a free port) in a
  thread, delivering due webhooks in the background; use a ``SystemClock`` there.
- **Failure injection**: ``sim.fail(method, path_pattern, failure, times=1)`` with a
  :class:`Failure`: ``Failure.status(503)``, ``Failure.rate_limited(retry_after=7)``,
  ``Failure.timeout(processed=False)``, ``Failure.malformed_json()``,
  ``Failure.drop_after_processing()``, ``Failure.connect_error()``,
  ``Failure.rewrite_json(fn)`` (e.g. an unknown status value). *path_pattern* is a glob
  (``fnmatch``: ``*`` also matches ``/``) on the full URL path; *method* may be ``"*"``.
- **Webhooks**: ``sim.add_webhook(url, secret)`` registers a receiver (loopback URLs only,
  unless it has its own ``transport=``, e.g. ``httpx.ASGITransport(orchestra_app)``).
  Subclasses call ``self.emit(kind, payload, delay=...)`` when a run is created; payloads may
  be callables evaluated at delivery time (return ``None`` to skip). ``await sim.deliver_due()``
  sends what is due at ``clock.now()``, signed by :meth:`Simulator.sign`; failed deliveries
  are retried after ``webhook_retry_delays``. Every attempt is in ``sim.deliveries``.
- **What happened**: ``sim.requests`` (the last 10,000 :class:`RecordedRequest`) and
  ``sim.count(method, pattern)`` (all requests ever).

Subclass hooks (all optional): :meth:`Simulator.routes`, :meth:`Simulator.authenticate`,
:meth:`Simulator.unauthorized`, :meth:`Simulator.error_response`,
:meth:`Simulator.rate_limited_response`, :meth:`Simulator.sign`,
:meth:`Simulator.credentials`, :meth:`Simulator.describe`, :meth:`Simulator.encode_webhook`,
class attributes ``name``, ``base_path``, ``public_paths``, ``default_run_duration``,
``webhook_retry_delays``, ``hang_seconds``. ``orchestra simulate NAME`` builds the simulator
with ``cls(run_duration=...)`` (keyword arguments only), so keep every constructor argument
optional.
"""

from __future__ import annotations

from ._auth import basic_credentials as basic_credentials
from ._auth import bearer_token as bearer_token
from ._auth import hmac_sha256 as hmac_sha256
from ._auth import is_loopback as is_loopback
from ._base import Simulator as Simulator
from ._failures import Failure as Failure
from ._failures import Injection as Injection
from ._records import DeliveryRecord as DeliveryRecord
from ._records import RecordedRequest as RecordedRequest
from ._records import WebhookTarget as WebhookTarget
from ._transport import SimulatorTransport as SimulatorTransport

__all__ = (
    "DeliveryRecord",
    "Failure",
    "Injection",
    "RecordedRequest",
    "Simulator",
    "SimulatorTransport",
    "WebhookTarget",
    "basic_credentials",
    "bearer_token",
    "hmac_sha256",
    "is_loopback",
)
