"""A small JSON Schema check for request bodies (the subset the API's models use)."""

from __future__ import annotations

from typing import Any

__all__ = ("check",)

_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def _is(kind: str, value: Any) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, _TYPES[kind])


def check(schema: dict[str, Any], value: Any, path: str = "$") -> list[dict[str, str]]:
    """Every way *value* breaks *schema*, as ``{"path", "message"}``."""
    kind = schema.get("type")
    if kind is not None:
        kinds = kind if isinstance(kind, list) else [kind]
        if not any(_is(k, value) for k in kinds):
            return [{"path": path, "message": f"expected {' or '.join(kinds)}"}]
    if "enum" in schema and value not in schema["enum"]:
        return [{"path": path, "message": f"expected one of {', '.join(schema['enum'])}"}]
    out: list[dict[str, str]] = []
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            out.append({"path": path, "message": "too short"})
        if len(value) > schema.get("maxLength", len(value)):
            out.append({"path": path, "message": "too long"})
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                out.append({"path": f"{path}.{name}", "message": "required"})
        for name, item in value.items():
            if name in props:
                out += check(props[name], item, f"{path}.{name}")
            elif schema.get("additionalProperties") is False:
                out.append({"path": f"{path}.{name}", "message": "unknown field"})
            elif isinstance(schema.get("additionalProperties"), dict):
                out += check(schema["additionalProperties"], item, f"{path}.{name}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            out += check(schema["items"], item, f"{path}[{i}]")
    return out
