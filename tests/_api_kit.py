"""Shared by the REST API tests: a store with tokens of two clients, and a failing pipeline."""

from __future__ import annotations

import warnings
from typing import Any

with warnings.catch_warnings():  # starlette's TestClient on httpx: still what it ships
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from orchestra_core import Orchestra, Store, create_api
from orchestra_core._api.tokens import ApiTokens

PIPELINE = """\
name: api-demo
defaults:
  retries: {count: 0}
triggers:
  - {kind: cron, cron: "0 6 * * *", timezone: UTC}
tasks:
  - id: extract
    integration: noop
    integration_job: noop_run
  - id: load
    integration: noop
    integration_job: noop_run
    depends_on: [extract]
    parameters: {fail_times: FAILS, message: "fails FAILS time(s)"}
  - id: report
    integration: noop
    integration_job: noop_run
    depends_on: [load]
"""


def pipeline_text(fails: int = 1, name: str = "api-demo") -> str:
    """The demo pipeline; its ``load`` task fails its first *fails* attempts."""
    return PIPELINE.replace("FAILS", str(fails)).replace("api-demo", name)


class Api:
    """An API app on a fresh store with tokens ``a-read``, ``a-run``, ``a-admin`` (client
    ``acme``) and ``b-admin`` (client ``beta``)."""

    def __init__(self, tmp_path: Any, url: str | None = None) -> None:
        self.store = Store.open(url or str(tmp_path / "api.db"))
        self.host = Orchestra(load_entrypoints=False)
        self.app = create_api(self.host, self.store)
        self.client = TestClient(self.app, raise_server_exceptions=True)
        tokens = ApiTokens(self.store)
        self.tokens = {}
        for name, client, scope in (("a-read", "acme", "read"), ("a-run", "acme", "run"),
                                    ("a-admin", "acme", "admin"), ("b-admin", "beta", "admin")):
            self.tokens[name] = tokens.create(name, client=client, scope=scope)[0]

    def auth(self, token: str | None) -> dict[str, str]:
        """The Authorization header of token *token* (a name above)."""
        return {"Authorization": f"Bearer {self.tokens[token]}"} if token else {}

    def call(self, method: str, path: str, token: str | None = "a-admin", **kwargs: Any) -> Any:
        """Send a request to ``/path`` as *token*."""
        headers = {**self.auth(token), **kwargs.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kwargs)

    def apply(self, text: str | None = None, token: str = "a-admin", name: str = "api-demo"
              ) -> Any:
        """PUT the pipeline file."""
        return self.call("PUT", f"/pipelines/{name}", token, content=text or pipeline_text(),
                         headers={"Content-Type": "application/yaml"})
