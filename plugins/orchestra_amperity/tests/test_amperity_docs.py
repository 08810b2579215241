"""docs/plugins/amperity.md: its pipeline validates, it documents every
parameter, state, environment variable and metadata key of the plugin."""

import re
from pathlib import Path

import attrs
import orchestra_amperity.plugin
from orchestra_amperity import AmperityCampaign, AmperityCourierGroup, AmperityOrchestrationGroup
from orchestra_amperity._api import ENV
from orchestra_amperity.states import KNOWN_STATES
from orchestra_amperity.testing import DEFAULT_CONFIGS

from orchestra_core.testing import make_host

ROOT = Path(__file__).parents[3]
PAGE = ROOT / "docs" / "plugins" / "amperity.md"


def text():
    return PAGE.read_text(encoding="utf-8")


def test_example_pipeline_validates():
    [block] = re.findall(r"```yaml\n(.*?)```", text(), re.DOTALL)
    _, problems = make_host(orchestra_amperity.plugin).check_text(block, source="amperity.md")
    assert [p.format() for p in problems] == []


def test_python_example_compiles():
    [block] = re.findall(r"```python\n(.*?)```", text(), re.DOTALL)
    compile(block, "amperity.md", "exec", flags=0x2000)  # top-level await allowed


def test_everything_is_documented():
    page = text()
    for model in (AmperityCourierGroup, AmperityOrchestrationGroup, AmperityCampaign):
        for field in attrs.fields(model):
            assert f"`{field.name}`" in page
            for alias in field.metadata["aliases"]:
                assert f"`{alias}`" in page
    for state in KNOWN_STATES:
        assert f"`{state}`" in page, state
    for var in ENV.values():
        assert f"`{var}`" in page, var
    for config in DEFAULT_CONFIGS:
        assert f"`{config}`" in page, config
    for key in ("workflow_id", "config_id", "kind", "tenant", "workflow_name", "workflow_type",
                "run_mode", "range_from", "range_to", "run_mode_from", "state", "created_at",
                "ended_at", "duration_seconds", "launched_version", "current_version",
                "principal_name", "task_instances", "error", "polls", "recovered"):
        assert f"`{key}`" in page, key
