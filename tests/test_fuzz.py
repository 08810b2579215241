"""Garbage in, validation errors out: never an exception, never a crash."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestra_core import Orchestra, Problem

HOST = Orchestra()

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                    st.text(max_size=12))
keys = st.one_of(st.sampled_from([
    "id", "name", "tasks", "stages", "integration", "integration_job", "parameters",
    "depends_on", "condition", "retries", "timeout", "async", "stage", "outcome", "count",
    "core_tasks", "on_failure", "client", "defaults", "version", "pipeline", "connectionid",
    "phase", "tags", "sleep", "syncid", "config_id",
]), st.text(max_size=8))
values = st.recursive(
    scalars | st.sampled_from(["noop", "noop_run", "fivetran", "fivetran_sync_all", "http",
                               "always", "a", "b", "1h", "v1"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=6),
    max_leaves=30,
)
task_like = st.fixed_dictionaries(
    {"id": st.sampled_from(["a", "b", "c"]),
     "integration": st.sampled_from(["noop", "http", "fivetran", "dbt", "nope", "HIGHTOUCH"])},
    optional={"integration_job": st.sampled_from(["noop_run", "fivetran_sync_all", "x"]),
              "depends_on": values, "parameters": values, "condition": values,
              "retries": values, "timeout": values},
)
documents = st.one_of(
    values,
    st.fixed_dictionaries({"name": values}, optional={
        "tasks": st.lists(task_like | values, max_size=4) | values,
        "stages": values, "defaults": values, "pipeline": values, "version": values}),
)


def check(problems: list) -> None:
    for p in problems:
        assert isinstance(p, Problem)
        assert p.message and p.path.startswith("$")


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_structures_never_raise(doc):
    pipeline, problems = HOST.check_data(doc)
    check(problems)
    assert (pipeline is None) == bool(problems)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.text(max_size=200))
def test_random_yaml_text_never_raises(text):
    _, problems = HOST.check_text(text, source="f.yaml")
    check(problems)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(documents)
def test_random_json_documents_never_raise(doc):
    text = json.dumps(doc, allow_nan=True)
    _, problems = HOST.check_text(text, source="f.json", fmt="json")
    check(problems)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.binary(max_size=100).map(lambda b: b.decode("latin-1")))
def test_random_json_text_never_raises(text):
    _, problems = HOST.check_text(text, source="f.json", fmt="json")
    check(problems)
