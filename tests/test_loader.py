"""Reading files: formats, locations, Orchestra's published v1 format."""

from orchestra_core import Orchestra


def test_orchestra_v1_format_is_translated(tmp_path):
    path = tmp_path / "v1.yaml"
    path.write_text("""version: v1
name: 'Nightly #finance'
configuration: {retries: 2, retry_delay: 30, timeout: 600}
pipeline:
  ingest:
    name: Ingest
    tasks:
      a: {integration: NOOP, integration_job: NOOP_RUN}
  after:
    depends_on: [ingest]
    tasks:
      b: {integration: http, integration_job: http_request, connection: api,
          configuration: {retries: 5}}
""")
    pipeline, problems = Orchestra(load_entrypoints=False).check_file(path)
    assert problems == []
    assert pipeline.name == "Nightly"
    assert pipeline.tags == ("finance",)
    assert pipeline.defaults.retries.count == 2
    assert pipeline.defaults.retries.delay == 30
    assert pipeline.defaults.timeout == 600
    assert [s.id for s in pipeline.stages] == ["ingest", "after"]
    assert pipeline.stage("after").depends_on == ("ingest",)
    assert pipeline.task("b").secondary_configuration_id == "api"
    assert pipeline.task("b").retries.count == 5


def test_v1_problems_point_into_the_original_file(tmp_path):
    path = tmp_path / "v1.yaml"
    path.write_text("""version: v1
name: x
pipeline:
  g:
    tasks:
      a:
        integration: NOOP
        integration_job: NOOP_RUN
        parameters: {sleep: never}
""")
    _, problems = Orchestra(load_entrypoints=False).check_file(path)
    assert [p.format() for p in problems] == [
        f"{path}:9:29: $.pipeline.g.tasks.a.parameters.sleep: expected a duration such as 90, "
        "'30s', '5m' or '1h30m', got 'never'"
    ]


def test_json_and_yaml_give_the_same_pipeline(tmp_path):
    import json

    data = {"name": "p", "tasks": [{"id": "a", "integration": "noop",
                                    "integration_job": "noop_run"}]}
    (tmp_path / "p.json").write_text(json.dumps(data))
    (tmp_path / "p.yaml").write_text("name: p\ntasks:\n- {id: a, integration: noop, "
                                     "integration_job: noop_run}\n")
    host = Orchestra(load_entrypoints=False)
    assert host.load_pipeline(tmp_path / "p.json") == host.load_pipeline(tmp_path / "p.yaml")


def test_json_duplicate_key(tmp_path):
    path = tmp_path / "d.json"
    path.write_text('{"name": "a", "name": "b", "tasks": []}')
    _, problems = Orchestra(load_entrypoints=False).check_file(path)
    assert [p.message for p in problems] == ["duplicate key 'name'"]


def test_yaml_python_tags_are_refused(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("name: !!python/object/apply:os.system ['true']\ntasks: []\n")
    _, problems = Orchestra(load_entrypoints=False).check_file(path)
    assert len(problems) == 1
    assert problems[0].line == 1
    assert "could not determine a constructor" in problems[0].message


def test_yaml_dates_stay_strings(tmp_path):
    path = tmp_path / "d.yaml"
    path.write_text("name: 2026-01-01\ntasks: [{id: a, integration: noop, "
                    "integration_job: noop_run}]\n")
    pipeline = Orchestra(load_entrypoints=False).load_pipeline(path)
    assert pipeline.name == "2026-01-01"
