"""``http``: JSON records in batches to a REST API.

Each request is ``POST url`` with ``{"records": [...]}`` and an ``Idempotency-Key`` header
that is stable across a crash and resume; every acknowledged request is checkpointed in the
store, so a resumed delivery sends only what was not acknowledged (and a receiver that
honours the key drops the one request that may have been in flight). Auth comes from the
destination's credential; a per-destination rate limit, retries with ``Retry-After`` on 429
and 5xx come from the shared vendor HTTP layer. A receiver may answer
``{"rejected": [{"index": i, "error": "..."}]}``: those records are reported, not resent.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from ..._errors import DeliveryFailed, TaskFailed
from ..._models import Delivery, DeliveryReceipt
from ..._retry import HttpRetry
from ..._vendor_http import RateLimit
from ..templates import json_value
from .http_options import HttpOptions

__all__ = ("HttpDestination", "HttpOptions")

AUTHS = ("none", "bearer", "basic", "header")


class HttpDestination:
    """Delivers record batches to :attr:`HttpOptions.url`."""

    def __init__(self, options: HttpOptions, context: Any = None) -> None:
        parts = urlsplit(options.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise DeliveryFailed(f"http destination: url must be http:// or https://, got "
                                 f"{options.url!r}")
        if options.auth not in AUTHS:
            raise DeliveryFailed(f"http destination: auth must be one of {', '.join(AUTHS)}, "
                                 f"got {options.auth!r}")
        self.options = options
        self.context = context
        self.name = getattr(context, "name", None) or "http"
        self.base = f"{parts.scheme}://{parts.netloc}"
        self.path = parts.path + (f"?{parts.query}" if parts.query else "")

    def _client(self, secrets: Mapping[str, str]) -> Any:
        opts = self.options
        headers = {"Content-Type": "application/json", **opts.headers}
        auth: Any = None
        if opts.auth != "none":
            token = next((secrets[k] for k in ("token", "api_key", "password") if k in secrets),
                         None)
            if opts.auth == "basic":
                if "username" not in secrets or "password" not in secrets:
                    raise DeliveryFailed(f"destination {self.name!r}: basic auth needs a "
                                         "credential with a username and a password")
                auth = (secrets["username"], secrets["password"])
            elif token is None:
                raise DeliveryFailed(f"destination {self.name!r}: {opts.auth} auth needs a "
                                     "credential with a token (or api_key) field")
            elif opts.auth == "bearer":
                headers["Authorization"] = f"Bearer {token}"
            else:
                headers[opts.header] = token
        host = getattr(self.context, "host", None)
        limit = RateLimit(max(1, int(opts.rate_limit)), 1.0, key=self.name) \
            if opts.rate_limit else None
        retry = HttpRetry(count=opts.retries, delay=opts.retry_delay, max_delay=30.0)
        if host is not None:
            return host.vendor_client(f"destination:{self.name}", base_url=self.base,
                                      auth=auth, headers=headers, rate_limit=limit,
                                      retry=retry, timeout=opts.timeout)
        from ..._vendor_http import VendorClient

        return VendorClient(f"destination:{self.name}", self.base, auth=auth,
                            headers=headers, rate_limit=limit, retry=retry,
                            timeout=opts.timeout)

    def _failed(self, exc: TaskFailed) -> DeliveryFailed:
        status = getattr(exc, "status", None)
        kind = getattr(exc, "kind", None)
        if status == 401:
            why = "authentication refused (HTTP 401)"
        elif status == 403:
            why = "permission denied (HTTP 403)"
        elif status == 507:
            why = "the receiver's storage is full (HTTP 507)"
        elif kind in ("connection", "timeout"):
            why = f"host unreachable ({self.base})"
        elif status is not None:
            why = f"HTTP {status}"
        else:
            why = str(exc)
        return DeliveryFailed(f"destination {self.name!r}: {why}",
                              retryable=bool(exc.retryable))

    async def check(self, secrets: Mapping[str, str] | None = None) -> None:
        """The receiver answers, and accepts the credential, for an empty batch."""
        secrets = secrets if secrets is not None else getattr(self.context, "secrets", {})
        client = self._client(secrets or {})
        try:
            await client.request("POST", self.path, json={self.options.records_key: []},
                                 headers={"Idempotency-Key": "orchestra-check"},
                                 idempotent=True, accept=(400, 422))
        except TaskFailed as exc:
            raise self._failed(exc) from exc

    async def deliver(self, delivery: Delivery) -> DeliveryReceipt:
        """POST every batch not yet acknowledged; checkpoint each acknowledged one."""
        client = self._client(delivery.secrets or getattr(self.context, "secrets", None) or {})
        ctx = getattr(self.context, "task", None)
        sent = rejected = skipped = size = requests = 0
        problems: list[dict[str, Any]] = []
        size_per = self.options.batch_size
        async for batch in delivery.batches():
            records = batch.records()
            for start in range(0, len(records), size_per):
                chunk = records[start:start + size_per]
                key = f"{batch.key}/{start // size_per}"
                if delivery.checkpoints is not None and await delivery.checkpoints.done(key):
                    skipped += len(chunk)
                    continue
                body = json.dumps({self.options.records_key: [
                    {k: json_value(v) for k, v in r.items()} for r in chunk]},
                    separators=(",", ":")).encode("utf-8")
                try:
                    answer = await client.request(
                        "POST", self.path, json=json.loads(body), ctx=ctx, idempotent=True,
                        headers={"Idempotency-Key": key})
                except TaskFailed as exc:
                    raise self._failed(exc) from exc
                refused = _rejected(answer)
                for item in refused:
                    problems.append({"batch": key, **item})
                rejected += len(refused)
                sent += len(chunk) - len(refused)
                size += len(body)
                requests += 1
                if delivery.checkpoints is not None:
                    await delivery.checkpoints.mark(key, rows=len(chunk) - len(refused),
                                                    size=len(body),
                                                    checksum=hashlib.sha256(body).hexdigest())
        if rejected:
            delivery.log(f"{self.name}: the receiver rejected {rejected} record(s): "
                         + "; ".join(str(p.get("error", p)) for p in problems[:5]),
                         level="warning")
        if skipped:
            delivery.log(f"{self.name}: {skipped} record(s) were acknowledged before the "
                         "resume and were not sent again")
        return DeliveryReceipt(delivered=sent + skipped, location=self.options.url,
                               bytes=size, rejected=rejected,
                               metadata={"requests": requests, "resumed_rows": skipped,
                                         "rejected_records": problems[:100]})


def _rejected(answer: Any) -> list[dict[str, Any]]:
    if isinstance(answer, Mapping):
        items = answer.get("rejected") or []
        if isinstance(items, list):
            return [i if isinstance(i, dict) else {"error": str(i)} for i in items]
    return []
