"""The tables a Fivetran connection syncs, read from its schema configuration."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ("asset_name", "enabled_tables")


def asset_name(schema: str, table: str) -> str:
    """The data asset of a synced table: ``<destination schema>.<destination table>``, the
    name the table has in the warehouse (what a dbt source or a ``changes`` trigger names)."""
    return f"{schema}.{table}"


def _enabled(entry: Mapping[str, Any]) -> bool:
    return entry.get("enabled", True) is not False


def enabled_tables(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every enabled table of every enabled schema of ``GET /connections/{id}/schemas``'s
    ``data``, sorted: ``{"schema", "table"`` (source names), ``"destination_schema",
    "destination_table", "asset", "sync_mode"}``."""
    found = []
    schemas = config.get("schemas")
    for schema_name, schema in (schemas.items() if isinstance(schemas, Mapping) else ()):
        if not isinstance(schema, Mapping) or not _enabled(schema):
            continue
        dest_schema = str(schema.get("name_in_destination") or schema_name)
        tables = schema.get("tables")
        for table_name, table in (tables.items() if isinstance(tables, Mapping) else ()):
            if not isinstance(table, Mapping) or not _enabled(table):
                continue
            dest_table = str(table.get("name_in_destination") or table_name)
            found.append({
                "schema": str(schema_name),
                "table": str(table_name),
                "destination_schema": dest_schema,
                "destination_table": dest_table,
                "asset": asset_name(dest_schema, dest_table),
                "sync_mode": table.get("sync_mode"),
            })
    found.sort(key=lambda t: (t["asset"], t["schema"], t["table"]))
    return found
