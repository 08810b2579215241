"""What an orchestration reads (its ``source``), apart from the reading itself so that a host
registers the ``orchestration_run`` job (and validates a pipeline) without importing it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attrs import frozen

from .._config import parameter

__all__ = ("ExportTable", "SourceSpec")


@frozen(kw_only=True)
class ExportTable:
    """One table of a database export."""

    name: str = parameter(help="the table (schema.table allowed)")
    columns: tuple[str, ...] = parameter(default=(), help="columns to export (default: all)")
    filter: str | None = parameter(
        default=None, aliases=("where",), help="a SQL condition; bind values with :name"
    )


@frozen(kw_only=True)
class SourceSpec:
    """What an orchestration reads: ``query`` or ``tables`` (a database export)."""

    query: str | None = parameter(
        default=None, aliases=("sql",), help="a SELECT; bind values with :name"
    )
    tables: tuple[ExportTable, ...] = parameter(default=(), help="a database export")
    url: str | None = parameter(
        default=None,
        help="SQLAlchemy URL of the database (default: the task's connection, option url)",
    )
    parameters: Mapping[str, Any] = parameter(
        factory=dict, help="bound values: a constant, or run.date / run.scheduled_at / run.id"
    )
    batch_size: int = parameter(default=10_000, help="rows read per batch")
