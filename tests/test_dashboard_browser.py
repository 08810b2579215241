"""The web dashboard in a real browser: Playwright drives Debian's chromium
(``/usr/bin/chromium``; a browser is never downloaded) against ``orchestra serve``'s service
on 127.0.0.1. The journey: sign in, run a pipeline whose task fails, watch the graph, retry
the task, watch the graph turn green, filter the logs, see and acknowledge the notification,
sign out; a token of another client sees none of it. Every page is saved as a screenshot in
``artifacts/screenshots/`` (or ``$ORCHESTRA_SCREENSHOTS``)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest
from anyio.from_thread import start_blocking_portal

from orchestra_core import Orchestra, Service, Store
from orchestra_core._api.tokens import ApiTokens

from ._api_kit import pipeline_text

CHROMIUM = os.environ.get("ORCHESTRA_CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(os.environ.get("ORCHESTRA_SCREENSHOTS",
                            Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"))

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - the dev group installs it
    sync_playwright = None  # type: ignore[assignment]

pytestmark = [
    pytest.mark.skipif(sync_playwright is None, reason="playwright is not installed "
                       "(uv sync --all-packages installs the dev group)"),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no chromium at {CHROMIUM}: "
                       "install Debian's (apt-get install -y chromium); .ci/run does"),
]

PIPELINE = pipeline_text(fails=1) + "alerts:\n  on_failure: true\n"
DELIVERY = """\
name: deliver-demo
tasks:
  - id: orders_out
    integration: orchestration
    integration_job: orchestration_run
    parameters:
      source: {url: "sqlite:///SRC", query: "SELECT id, amount FROM orders ORDER BY id"}
      destination: {type: filedrop, options: {directory: "OUT", create: true}}
"""


def delivery_pipeline(folder: Path) -> str:
    """A pipeline delivering a 3-row table of a SQLite file in *folder* to a file drop."""
    import sqlite3

    with sqlite3.connect(folder / "src.db") as db:
        db.execute("CREATE TABLE orders (id INTEGER, amount REAL)")
        db.executemany("INSERT INTO orders VALUES (?, ?)", [(1, 9.5), (2, 12.0), (3, 3.25)])
    return DELIVERY.replace("SRC", str(folder / "src.db")).replace("OUT", str(folder / "out"))


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dash")
    store = Store.open(str(folder / "dash.db"))
    tokens = ApiTokens(store)
    acme = tokens.create("ops", client="acme", scope="admin")[0]
    beta = tokens.create("other", client="beta", scope="admin")[0]
    svc = Service(Orchestra(load_entrypoints=False), store, http_host="127.0.0.1", port=0,
                  workers=2, poll=30, reread=0.5)
    with start_blocking_portal() as portal:
        future = portal.start_task_soon(svc.run)
        deadline = time.monotonic() + 20
        while not svc.port or svc._server is None or not svc._server.started:
            assert time.monotonic() < deadline and not future.done()
            time.sleep(0.02)
        base = f"http://127.0.0.1:{svc.port}"
        applied = httpx.put(f"{base}/api/v1/pipelines/api-demo", content=PIPELINE,
                            headers={"Authorization": f"Bearer {acme}"})
        assert applied.status_code == 200, applied.text
        auth = {"Authorization": f"Bearer {acme}"}
        delivery = httpx.put(f"{base}/api/v1/pipelines/deliver-demo",
                             content=delivery_pipeline(folder), headers=auth)
        assert delivery.status_code == 200, delivery.text
        run_id = httpx.post(f"{base}/api/v1/runs", json={"pipeline": "deliver-demo"},
                            headers=auth).json()["id"]
        deadline = time.monotonic() + 20
        while httpx.get(f"{base}/api/v1/runs/{run_id}", headers=auth).json()["state"] in (
                "pending", "running"):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        pushed = httpx.post(f"{base}/api/v1/queues/invoices/elements",
                            json={"reference": "INV-1", "data": {"amount": 12}},
                            headers={"Authorization": f"Bearer {acme}"})
        assert pushed.status_code == 201, pushed.text
        yield base, acme, beta
        portal.call(svc.stop)
        future.result(timeout=20)


@pytest.fixture(scope="module")
def chromium():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


def shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def sign_in(browser, base, token):
    page = browser.new_context(viewport={"width": 1366, "height": 820}).new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{base}/")
    expect(page).to_have_url(f"{base}/login?next=/pipelines")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Pipelines")).to_be_visible()
    return page


def test_journey_run_retry_logs_notification_sign_out(served, chromium):
    base, acme, _ = served
    page = sign_in(chromium, base, acme)
    shot(page, "login-then-pipelines")
    tail = page.context.new_page()  # the live tail, open before the run starts
    tail.goto(f"{base}/logs?live=1&pipeline=api-demo")
    expect(tail.get_by_label("Live tail")).to_be_checked()
    row = page.locator("tr[data-pipeline='api-demo']")
    expect(row).to_contain_text("active")
    row.get_by_label("Run type").select_option("refresh")
    row.get_by_role("button", name="Run now").click()
    expect(page.get_by_role("status")).to_contain_text("Run of api-demo started")
    graph = page.locator("svg .node")
    expect(graph).to_have_count(3)
    load = page.locator("svg .node[data-task='load']")
    expect(load).to_have_attribute("data-state", "failed")  # updated live, by polling
    expect(page.locator("svg .node[data-task='extract']")).to_have_attribute(
        "data-state", "succeeded")
    shot(page, "run-failed")
    page.get_by_role("button", name="Retry load").click()
    expect(page.get_by_role("status")).to_contain_text("Task load retried")
    for task in ("extract", "load", "report"):  # the graph turns green
        expect(page.locator(f"svg .node[data-task='{task}']")).to_have_attribute(
            "data-state", "succeeded")
    expect(page.locator("#run-live")).to_have_attribute("data-state", "succeeded")
    page.locator("tr.detail summary", has_text="Details of load").click()
    expect(page.locator("tr.detail pre.tasklog").nth(1)).to_contain_text("failing attempt 1")
    shot(page, "run-succeeded")
    first_run = page.url
    page.get_by_role("button", name="Rerun from report").click()  # a new run
    expect(page.get_by_role("status")).to_contain_text("Task report rerun from here")
    assert page.url.split("?")[0] != first_run
    expect(page.locator("#run-live")).to_have_attribute("data-state", "succeeded")
    expect(page.locator(".runline")).to_contain_text("rerun:")

    expect(tail.locator("table.logs")).to_contain_text("failing attempt 1 of 1")
    expect(tail.locator("table.logs")).to_contain_text("load")
    shot(tail, "logs-live-tail")
    tail.close()
    page.get_by_role("link", name="Logs", exact=True).click()
    page.get_by_label("Task").fill("load")
    page.get_by_label("Level at least").select_option("error")
    page.get_by_role("button", name="Filter").click()
    lines = page.locator("table.logs tbody tr")
    expect(lines.first).to_be_visible()
    for text in lines.all_inner_texts():
        assert "load" in text and "error" in text
    shot(page, "logs-filtered")

    pane = page.get_by_role("complementary", name="Notifications")
    note = pane.locator(".notification", has_text="run.failed")
    expect(note).to_have_count(1)
    expect(note).to_contain_text("api-demo")
    note.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_role("status")).to_contain_text("Notification acknowledged")
    expect(pane.locator(".notification", has_text="run.failed")).to_have_count(0)
    expect(pane).to_contain_text("orchestration.added")  # the delivery pipeline's

    page.goto(base + "/settings")
    page.get_by_label("Name", exact=True).fill("region")
    page.get_by_label("Value", exact=True).fill("eu-west-secret-9")
    page.get_by_role("button", name="Set constant").click()
    expect(page.get_by_role("status")).to_contain_text("Constant region set")
    expect(page.locator("li[data-constant='region']")).to_be_visible()
    assert "eu-west-secret-9" not in page.content()

    page.goto(base + "/destinations")
    delivered = page.locator("tr[data-orchestration='orders_out']")
    expect(delivered).to_contain_text("filedrop")
    expect(delivered).to_contain_text("succeeded")
    expect(delivered).to_contain_text("3")
    shot(page, "destinations")

    for path, heading in (("/triggers", "Triggers"), ("/queues", "Queues"),
                          ("/settings", "Constants and credentials"),
                          ("/audit", "Audit log"), ("/runs", "Runs")):
        page.goto(base + path)
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        shot(page, path.strip("/"))
    expect(page.locator("tbody tr").first).to_contain_text("api-demo")
    page.goto(base + "/audit")
    expect(page.locator("tr[data-action='run.retry']")).to_have_count(1)

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto(base + "/pipelines")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.context.close()


def test_another_clients_token_sees_none_of_it(served, chromium):
    base, acme, beta = served
    runs = httpx.get(f"{base}/api/v1/runs", headers={"Authorization": f"Bearer {acme}"})
    run_id = runs.json()["runs"][0]["id"]
    page = sign_in(chromium, base, beta)
    expect(page.locator("main")).to_contain_text("No pipelines yet")
    for path in ("/runs", "/logs", "/triggers", "/audit", "/destinations"):
        page.goto(base + path)
        expect(page.locator("main")).not_to_contain_text("api-demo")
        expect(page.locator("main")).not_to_contain_text("deliver-demo")
    expect(page.get_by_role("complementary", name="Notifications")).to_contain_text(
        "Nothing new")
    answer = page.goto(f"{base}/runs/{run_id}")
    assert answer is not None and answer.status == 404
    shot(page, "other-client")
    page.context.close()
