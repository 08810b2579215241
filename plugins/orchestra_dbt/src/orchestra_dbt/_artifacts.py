"""Reading a run's ``run_results.json`` and ``manifest.json``: per-node results and the data
assets (the models, seeds and snapshots a run built)."""

from __future__ import annotations

from collections import Counter
from typing import Any

__all__ = ("MAX_NODES", "asset_name", "built_assets", "needs_manifest", "node_results", "summary")

#: Per-node results kept in a task run's metadata (the counts always cover every node).
MAX_NODES = 500

#: dbt resource types that build a relation in the warehouse: these are data assets.
_BUILDS = ("model", "seed", "snapshot")


def _relation(node: dict[str, Any]) -> str | None:
    """``database.schema.identifier`` of a manifest node, lower-cased, without quotes."""
    relation = node.get("relation_name")
    if isinstance(relation, str) and relation.strip():
        return relation.replace('"', "").replace("`", "").replace("[", "").replace(
            "]", "").lower()
    parts = [node.get("database"), node.get("schema"), node.get("alias") or node.get("name")]
    if all(isinstance(p, str) and p for p in parts[1:]):
        return ".".join(str(p) for p in parts if p).lower()
    return None


def asset_name(unique_id: str, relation: str | None = None) -> str:
    """The data asset a dbt node stands for: ``<schema>.<identifier>`` of the relation it
    builds (``prod.orders``; the naming of Fivetran's tables, so assets of both line up),
    or ``dbt.<unique_id>`` (``dbt.model.analytics.orders``) when the relation is unknown."""
    if relation:
        parts = relation.split(".")
        return ".".join(parts[-2:])
    return f"dbt.{unique_id}"


def node_results(run_results: Any, manifest: Any = None) -> list[dict[str, Any]]:
    """One entry per node of *run_results* (``unique_id``, ``resource_type``, ``name``,
    ``status``, ``execution_time``, ``message``, ``relation`` when the results or *manifest*
    name it, and ``asset``, see :func:`asset_name`).
    Unreadable entries are skipped."""
    nodes = manifest.get("nodes", {}) if isinstance(manifest, dict) else {}
    out = []
    results = run_results.get("results") if isinstance(run_results, dict) else None
    for item in results if isinstance(results, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("unique_id"), str):
            continue
        uid = item["unique_id"]
        node = nodes.get(uid) if isinstance(nodes, dict) else None
        node = node if isinstance(node, dict) else {}
        kind = uid.split(".", 1)[0]
        entry: dict[str, Any] = {
            "unique_id": uid,
            "resource_type": node.get("resource_type", kind),
            "name": node.get("name") or uid.rsplit(".", 1)[-1],
            "status": item.get("status"),
            "execution_time": item.get("execution_time"),
            "message": item.get("message"),
        }
        relation = _relation({"relation_name": item["relation_name"]}) \
            if isinstance(item.get("relation_name"), str) else (_relation(node) if node else None)
        if relation:
            entry["relation"] = relation
        entry["asset"] = asset_name(uid, relation)
        out.append(entry)
    return out


def needs_manifest(run_results: Any) -> bool:
    """Whether *run_results* lacks the relation names (dbt before 1.8 wrote none), so the
    manifest is needed to name each node's relation."""
    results = run_results.get("results") if isinstance(run_results, dict) else None
    return bool(results) and not any(isinstance(r, dict) and "relation_name" in r
                                     for r in results)


def built_assets(results: list[dict[str, Any]]) -> tuple[str, ...]:
    """The assets of the models, seeds and snapshots that built successfully."""
    return tuple(dict.fromkeys(r["asset"] for r in results
                               if r["resource_type"] in _BUILDS and r["status"] == "success"))


def summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts by status and the kept per-node entries, for a task run's metadata."""
    return {
        "counts": dict(sorted(Counter(str(r["status"]) for r in results).items())),
        "nodes": results[:MAX_NODES],
        "truncated": len(results) > MAX_NODES,
    }
