"""docs/plugins/census.md: its pipeline validates, it documents every
parameter, metadata key and status this plugin knows."""

import re
from pathlib import Path

import attrs
import orchestra_census.plugin
from orchestra_census import CensusSync
from orchestra_census.sync_runs import FIELDS, KNOWN_STATUSES, STATS
from orchestra_census.webhooks import EVENTS

from orchestra_core.testing import make_host

ROOT = Path(__file__).parents[3]
PAGE = ROOT / "docs" / "plugins" / "census.md"


def text():
    return PAGE.read_text(encoding="utf-8")


def test_example_pipeline_validates():
    [block] = [b for b in re.findall(r"```yaml\n(.*?)```", text(), re.DOTALL)]
    _, problems = make_host(orchestra_census.plugin).check_text(block, source="census.md")
    assert [p.format() for p in problems] == []


def test_everything_is_documented():
    page = text()
    for field in attrs.fields(CensusSync):
        assert f"`{field.name}`" in page
        for alias in field.metadata["aliases"]:
            assert f"`{alias}`" in page
    for key in (*FIELDS, *STATS, "sync_label", "url", "destination", "recovered"):
        assert f"`{key}`" in page, key
    for status in KNOWN_STATUSES:
        assert f"`{status}`" in page
    for event in EVENTS:
        if not event.startswith("sync.alert"):
            assert f"`{event}`" in page
    for env in ("CENSUS_API_TOKEN", "CENSUS_BASE_URL", "CENSUS_WEBHOOK_SECRET"):
        assert env in page
