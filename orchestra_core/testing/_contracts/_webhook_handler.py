"""The contract of a plugin's webhook handling through the real ``/webhooks/{integration}``
endpoint: signatures, malformed bodies, replays (:class:`WebhookHandlerContract`)."""

from __future__ import annotations

from typing import Any, ClassVar

from ._overrides import guard_overrides

__all__ = ("WebhookHandlerContract",)

class WebhookHandlerContract:
    """Inherited tests of a plugin's webhook handling through the real endpoint
    (``POST /webhooks/{integration}``): a signed delivery is accepted and published; a bad or
    missing signature and a tampered body get 401; a signed malformed body gets 400; a
    replay is accepted and ignored; nothing is accepted without a configured secret.

    Provide the class attributes and ``valid_body``; ``signed_headers`` defaults to your
    simulator's ``sign`` (``make_simulator``)::

        class TestDbtWebhooks(WebhookHandlerContract):
            plugin = orchestra_dbt.plugin
            integration = "dbt"
            secret_env = "DBT_CLOUD_WEBHOOK_SECRET"

            def make_simulator(self):
                return DbtCloudSimulator()

            def valid_body(self):
                return json.dumps({...a job.run.completed delivery...}).encode()

    The secret is given to the handler through the environment variable *secret_env*
    (read by :func:`orchestra_core.webhook_secrets`, or by the plugin). Where the vendor
    signs a timestamp (``WebhookEvent.signed_at``), ``valid_body`` must carry a current one:
    the server refuses deliveries signed outside its replay window.
    """

    plugin: ClassVar[Any]
    integration: ClassVar[str]
    #: the environment variable the handler reads the secret from
    secret_env: ClassVar[str | None] = None
    #: the secret the contract configures and signs with
    secret: ClassVar[str] = "contract-webhook-secret-0123"

    def make_simulator(self) -> Any:
        """A simulator whose ``sign(body, secret)`` signs as the vendor does."""
        raise NotImplementedError("provide make_simulator() or signed_headers()")

    def valid_body(self) -> bytes:
        """The raw body of a genuine delivery that yields at least one event."""
        raise NotImplementedError("provide valid_body()")

    def malformed_body(self) -> bytes:
        """A body that is not a delivery of this vendor (default: not JSON)."""
        return b"{this is not json"

    def signed_headers(self, body: bytes, secret: str) -> dict[str, str]:
        """Headers of a delivery of *body* signed with *secret*."""
        return {"content-type": "application/json", **self.make_simulator().sign(body, secret)}

    # -- machinery -------------------------------------------------------------------------------

    def _env(self) -> str:
        import re

        return self.secret_env or re.sub(r"[^A-Z0-9]", "_", self.integration.upper()) \
            + "_WEBHOOK_SECRET"

    async def _post(self, monkeypatch: Any, body: bytes, headers: dict[str, str], *,
                    times: int = 1, configured: bool = True) -> tuple[list[Any], Any]:
        import types

        import httpx

        from ..._engine import EventChannel
        from ..._host import Orchestra
        from ..._server import create_app

        if configured:
            monkeypatch.setenv(self._env(), self.secret)
        else:
            monkeypatch.delenv(self._env(), raising=False)
        host = Orchestra(plugins=[self.plugin], load_entrypoints=False)
        engine = types.SimpleNamespace(events=EventChannel())
        app = create_app(host, engine)
        answers = []
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://orchestra.test") as http:
            for _ in range(times):
                answers.append(await http.post(f"/webhooks/{self.integration}", content=body,
                                               headers=headers))
        return answers, engine.events

    # -- the contract ----------------------------------------------------------------------------

    async def test_signed_delivery_is_accepted_and_published(self, monkeypatch: Any) -> None:
        """A genuine delivery is answered 200 and its events are published."""
        body = self.valid_body()
        (answer,), events = await self._post(monkeypatch, body,
                                             self.signed_headers(body, self.secret))
        assert answer.status_code == 200, answer.text
        assert answer.json()["received"] >= 1 and answer.json()["new"] >= 1
        assert events._seen, "no event was published"

    async def test_bad_signature_is_401(self, monkeypatch: Any) -> None:
        """A delivery signed with another secret is refused and changes nothing."""
        body = self.valid_body()
        (answer,), events = await self._post(
            monkeypatch, body, self.signed_headers(body, "some-other-secret-value"))
        assert answer.status_code == 401, answer.text
        assert not events._seen

    async def test_tampered_body_is_401(self, monkeypatch: Any) -> None:
        """A body changed after signing is refused."""
        body = self.valid_body()
        headers = self.signed_headers(body, self.secret)
        (answer,), events = await self._post(monkeypatch, body + b" ", headers)
        assert answer.status_code == 401, answer.text
        assert not events._seen

    async def test_unsigned_delivery_is_401(self, monkeypatch: Any) -> None:
        """A delivery without the signature is refused."""
        (answer,), events = await self._post(monkeypatch, self.valid_body(),
                                             {"content-type": "application/json"})
        assert answer.status_code == 401, answer.text
        assert not events._seen

    async def test_malformed_body_is_400(self, monkeypatch: Any) -> None:
        """A correctly signed body that is not a delivery is answered 400."""
        body = self.malformed_body()
        (answer,), events = await self._post(monkeypatch, body,
                                             self.signed_headers(body, self.secret))
        assert answer.status_code == 400, answer.text
        assert not events._seen

    async def test_replay_is_idempotent(self, monkeypatch: Any) -> None:
        """The same delivery twice: the second is accepted (200) and publishes nothing."""
        body = self.valid_body()
        (first, second), _ = await self._post(monkeypatch, body,
                                              self.signed_headers(body, self.secret), times=2)
        assert first.status_code == second.status_code == 200
        assert second.json()["new"] == 0 and second.json()["replayed"] >= 1

    async def test_nothing_is_accepted_without_a_secret(self, monkeypatch: Any) -> None:
        """With no secret configured every delivery is refused."""
        body = self.valid_body()
        (answer,), events = await self._post(monkeypatch, body,
                                             self.signed_headers(body, self.secret),
                                             configured=False)
        assert answer.status_code == 401, answer.text
        assert not events._seen

    def test_no_overrides_DO_NOT_OVERRIDE(self) -> None:
        """Overriding a contract test needs ``@pytest.mark.xfail(reason=...)``."""
        guard_overrides(self, WebhookHandlerContract)
