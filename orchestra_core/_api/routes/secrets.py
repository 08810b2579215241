"""``/constants``, ``/credentials`` and ``/connections``: the store's shared configuration
(every client's pipelines use it). Reading needs ``read``; changing needs ``admin``. No
answer ever holds a credential's value."""

from __future__ import annotations

from typing import Any

from ..endpoint import Call, Endpoint, path_param
from ..problems import ApiError
from ..schema import STR, arr, nullable, obj, ref
from ._scope import aware

__all__ = ("ENDPOINTS",)

NAME = path_param("name", "The record's name.")


def list_constants(call: Call) -> list[dict[str, Any]]:
    """Every constant with its value."""
    return [aware(c.to_dict()) for c in call.api.secrets.constants.list()]


def set_constant(call: Call) -> dict[str, Any]:
    """Create or replace a constant."""
    constants = call.api.secrets.constants
    name = call["name"]
    before = next((aware(c.to_dict()) for c in constants.list() if c.name == name), None)
    info = constants.set(name, call.body["value"], description=call.body.get("description"))
    call.audit("constant.set", name, before, aware(info.to_dict()))
    return aware(info.to_dict())


def list_credentials(call: Call) -> list[dict[str, Any]]:
    """Every credential: its name, user name and field names, never a value."""
    return [aware(c.to_dict()) for c in call.api.secrets.credentials.list()]


def _credential(call: Call, rotate: bool) -> dict[str, Any]:
    creds = call.api.secrets.credentials
    name = call["name"]
    before = next((aware(c.to_dict()) for c in creds.list() if c.name == name), None)
    if rotate and before is None:
        raise ApiError(404, f"no credential named {name!r} to rotate")
    values = call.body["secrets"]
    call.api.redactor.add(*[v for v in values.values() if isinstance(v, str)])
    username = call.body.get("username", before["username"] if before else None)
    info = creds.set(name, secrets=values, username=username,
                     description=call.body.get("description"))
    call.audit("credential.rotate" if rotate else "credential.set", name, before,
               aware(info.to_dict()))
    return aware(info.to_dict())


def set_credential(call: Call) -> dict[str, Any]:
    """Create or replace a credential's secret fields (encrypted at rest; the answer names
    the fields, never their values)."""
    return _credential(call, False)


def rotate_credential(call: Call) -> dict[str, Any]:
    """Replace the secret fields of an existing credential (for example a new API key)."""
    return _credential(call, True)


def list_connections(call: Call) -> list[dict[str, Any]]:
    """Every stored connection."""
    return [aware(c.to_dict()) for c in call.api.secrets.connections.list()]


def set_connection(call: Call) -> dict[str, Any]:
    """Create or replace a connection (checked against the integration's requirements)."""
    conns = call.api.secrets.connections
    name = call["name"]
    before = next((aware(c.to_dict()) for c in conns.list() if c.name == name), None)
    b = call.body
    info = conns.add(name, integration=b["integration"], base_url=b.get("base_url"),
                     auth=b.get("auth"), credential=b.get("credential"),
                     options=b.get("options"), description=b.get("description"), replace=True)
    call.audit("connection.set", name, before, aware(info.to_dict()))
    return aware(info.to_dict())


def delete_connection(call: Call) -> None:
    """Delete a connection."""
    conns = call.api.secrets.connections
    name = call["name"]
    before = conns.get(name).to_dict()
    conns.delete(name)
    call.audit("connection.delete", name, before, None)


_TEXT = nullable({**STR, "maxLength": 10000})
CONSTANT = obj(value={**STR, "maxLength": 100000})
CONSTANT["properties"]["description"] = _TEXT
CREDENTIAL = obj(secrets={"type": "object", "minProperties": 1,
                          "additionalProperties": {"type": "string", "maxLength": 10000}})
CREDENTIAL["properties"].update(username=_TEXT, description=_TEXT)
CONNECTION = obj(integration={**STR, "minLength": 1, "maxLength": 100})
CONNECTION["properties"].update(base_url=_TEXT, auth=_TEXT, credential=_TEXT,
                                options={"type": "object"}, description=_TEXT)
T = "configuration"
ENDPOINTS = [
    Endpoint("GET", "/constants", list_constants, "read", "List constants", T,
             response=arr(ref("Constant"))),
    Endpoint("PUT", "/constants/{name}", set_constant, "admin", "Set a constant", T, (NAME,),
             body=CONSTANT, response=ref("Constant")),
    Endpoint("GET", "/credentials", list_credentials, "read", "List credential names", T,
             response=arr(ref("Credential"))),
    Endpoint("PUT", "/credentials/{name}", set_credential, "admin", "Set a credential", T,
             (NAME,), body=CREDENTIAL, response=ref("Credential")),
    Endpoint("POST", "/credentials/{name}/rotate", rotate_credential, "admin",
             "Rotate a credential", T, (NAME,), body=CREDENTIAL, response=ref("Credential"),
             errors=(404,)),
    Endpoint("GET", "/connections", list_connections, "read", "List connections", T,
             response=arr(ref("Connection"))),
    Endpoint("PUT", "/connections/{name}", set_connection, "admin", "Set a connection", T,
             (NAME,), body=CONNECTION, response=ref("Connection")),
    Endpoint("DELETE", "/connections/{name}", delete_connection, "admin",
             "Delete a connection", T, (NAME,), errors=(404,)),
]
