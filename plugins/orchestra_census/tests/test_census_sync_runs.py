import pytest
from orchestra_census.sync_runs import (
    RunClass,
    UnknownSyncRunStatus,
    classify,
    error_text,
    run_metadata,
    summary,
)

from orchestra_core import Redactor


@pytest.mark.parametrize(("status", "klass"), [
    ("queued", RunClass.IN_PROGRESS),
    ("working", RunClass.IN_PROGRESS),
    ("completed", RunClass.SUCCEEDED),
    ("failed", RunClass.FAILED),
    ("skipped", RunClass.SKIPPED),
])
def test_known_statuses(status, klass):
    assert classify({"id": 1, "status": status, "canceled": False}) is klass


@pytest.mark.parametrize("status", ["failed", "completed", "working", "whatever"])
def test_canceled_wins_whatever_the_status(status):
    assert classify({"id": 1, "status": status, "canceled": True}) is RunClass.CANCELLED


@pytest.mark.parametrize("status", ["preparing", "COMPLETED", "success", None, 3])
def test_unknown_status_is_an_error_not_a_guess(status):
    with pytest.raises(UnknownSyncRunStatus) as info:
        classify({"id": 94, "status": status, "canceled": False})
    assert info.value.retryable is False
    assert f"Census sync run 94 has status {status!r}" in str(info.value)
    assert "completed, failed, queued, skipped, working" in str(info.value)


def test_the_envelope_status_is_not_the_run_status():
    # Dagster PR #13315: reading the envelope's "success" ended polling at once
    with pytest.raises(UnknownSyncRunStatus):
        classify({"status": "success", "data": {"status": "working"}})


def test_unknown_status_payload_is_redacted():
    redactor = Redactor()  # a host's (host.redactor)
    redactor.add("secret-token:abcdef")
    with pytest.raises(UnknownSyncRunStatus) as info:
        classify({"id": 1, "status": "odd", "error_detail": "token secret-token:abcdef"},
                 redactor)
    assert info.value.payload["error_detail"] == "token *****"


def test_metadata_and_summary():
    run = {"id": 94, "sync_id": 52, "status": "completed", "canceled": False, "full_sync": True,
           "records_processed": 120, "records_updated": 118, "records_failed": 2,
           "records_invalid": 0, "source_record_count": 120, "extra": "x"}
    meta = run_metadata(run)
    assert meta["sync_run_id"] == 94 and meta["sync_id"] == 52
    assert meta["records_failed"] == 2 and "extra" not in meta
    assert summary(run) == "120 records processed, 118 updated, 2 failed"
    assert summary({"records_processed": None}) == ""


def test_error_text_prefers_the_message():
    assert error_text({"error_code": "X", "error_message": "boom", "error_detail": "d"}) == "boom"
    assert error_text({"error_code": "X", "error_message": None, "error_detail": " d "}) == "d"
    assert error_text({"error_code": "X"}) == "X"
    assert error_text({}) == ""
