"""Schemathesis against the API's own OpenAPI document, bounded (a few examples per
operation, derandomized): no 500, and every response matches the documented status codes,
content types and schemas."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.applications import Starlette
from starlette.routing import Mount

from orchestra_core._secrets import KEY_ENV, generate_key

from ._api_kit import Api, pipeline_text


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv(KEY_ENV, generate_key())
    api = Api(tmp_path_factory.mktemp("fuzz"))
    assert api.apply().status_code == 200
    api.call("POST", "/runs", "a-run", json={"pipeline": "api-demo"})
    api.call("PUT", "/pipelines/other", content=pipeline_text(name="other"))
    yield api
    mp.undo()


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


def test_every_operation_answers_as_documented(api):
    app = Starlette(routes=[Mount("/api/v1", api.app)])  # as orchestra serve mounts it
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 30
    headers = api.auth("a-admin")
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=5, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck), phases=[Phase.generate])
        def check(case):
            if case.path == "/logs/tail":
                case.query = {**(case.query or {}), "max_seconds": 1}
            case.call_and_validate(headers=headers, checks=CHECKS)

        check()
