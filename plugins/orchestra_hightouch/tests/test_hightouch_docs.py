"""docs/plugins/hightouch.md: its pipeline validates, and it documents
every parameter, environment variable, metadata key and status this plugin knows."""

import re
from pathlib import Path

import attrs
import orchestra_hightouch.plugin
import pytest
from orchestra_hightouch import HightouchSync
from orchestra_hightouch._api import ENV
from orchestra_hightouch._status import STATUSES
from orchestra_hightouch.testing import HightouchSimulator

from orchestra_core.testing import FakeClock, make_host

ROOT = Path(__file__).parents[3]
PAGE = ROOT / "docs" / "plugins" / "hightouch.md"


def text():
    return PAGE.read_text(encoding="utf-8")


def test_example_pipeline_validates():
    [block] = re.findall(r"```yaml\n(.*?)```", text(), re.DOTALL)
    _, problems = make_host(orchestra_hightouch.plugin).check_text(block, source="hightouch.md")
    assert [p.format() for p in problems] == []


def test_everything_is_documented():
    page = text()
    for field in attrs.fields(HightouchSync):
        assert f"`{field.name}`" in page
        for alias in field.metadata["aliases"]:
            assert f"`{alias}`" in page
    for variable in (*ENV.values(), "HIGHTOUCH_WEBHOOK_HEADER"):
        assert f"`{variable}`" in page
    for status in STATUSES:
        assert f"`{status}`" in page, status


@pytest.fixture
def anyio_backend():
    return "asyncio"


async def test_every_metadata_key_is_documented(tmp_path, monkeypatch):
    """Run a real task and check each key of its metadata appears in the page's table."""
    from orchestra_core import Orchestra

    clock = FakeClock()
    sim = HightouchSimulator(clock=clock)
    monkeypatch.setenv("HIGHTOUCH_API_TOKEN", sim.token)
    monkeypatch.setenv("HIGHTOUCH_BASE_URL", sim.base_url)
    host = Orchestra(plugins=[orchestra_hightouch.plugin], load_entrypoints=False,
                     transports={"hightouch": sim.transport})
    pipeline = host.pipeline_from_data({"name": "p", "tasks": [
        {"id": "a", "integration": "hightouch", "integration_job": "hightouch_sync",
         "syncid": "1003"}]})
    async with clock.driving():
        result = await host.run(pipeline, db=str(tmp_path / "o.db"), clock=clock)
    table = text().split("## Metadata", 1)[1].split("## ", 1)[0]
    meta = result.tasks["a"]["meta"]
    assert "error" in meta and "run_id" in meta
    for key in meta:
        assert f"`{key}`" in table, key
    assert "`recovered`" in table
