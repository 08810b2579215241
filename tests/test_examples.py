"""Every example pipeline validates with the installed plugins, and uses the whole format."""

from pathlib import Path

import attrs
import pytest

from orchestra_core import Orchestra
from orchestra_core._pipeline import ConditionKind, Stage, Task

EXAMPLES = sorted(p for p in (Path(__file__).parent.parent / "examples").iterdir()
                  if p.suffix in (".yaml", ".yml", ".json"))


@pytest.fixture(scope="module")
def host() -> Orchestra:
    return Orchestra()


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_validates(host, path):
    _, problems = host.check_file(path)
    assert [p.format() for p in problems] == []


def test_examples_use_every_key(host):
    pipelines = [host.load_pipeline(p) for p in EXAMPLES]
    tasks = [t for p in pipelines for t in p.tasks]
    stages = [s for p in pipelines for s in p.stages]
    for cls, items in ((Task, tasks), (Stage, stages)):
        for f in attrs.fields(cls):
            default = f.default.factory() if isinstance(f.default, attrs.Factory) else f.default
            assert any(getattr(i, f.name) != default for i in items), \
                f"no example sets {cls.__name__}.{f.name}"
    kinds = {t.condition.kind for t in tasks}
    assert kinds == set(ConditionKind)
    assert {p.suffix for p in EXAMPLES} >= {".yaml", ".json"}
