"""The PostgreSQL tests fail, not skip, when ``ORCHESTRA_TEST_POSTGRES_URL`` is set and the
server cannot be reached; without the variable they skip saying why."""

import pytest

from ._postgres import ENV, skip_reason, unreachable

NOWHERE = "postgresql://postgres@127.0.0.1:1/none"  # port 1: nothing listens there


def test_a_set_variable_with_no_server_fails_the_test():
    with pytest.raises(pytest.fail.Exception) as info:
        skip_reason({ENV: NOWHERE})
    message = str(info.value)
    assert ENV in message and "127.0.0.1:1/none" in message and "not reachable" in message


def test_without_the_variable_the_reason_to_skip_says_why(monkeypatch):
    monkeypatch.setattr("tests._postgres.DEFAULT_URL", NOWHERE)
    reason = skip_reason({})
    assert reason is not None
    assert f"{ENV} is not set" in reason and NOWHERE in reason


def test_the_probe_is_asked_once_per_url():
    unreachable.cache_clear()
    first = unreachable(NOWHERE)
    assert first is not None
    assert unreachable(NOWHERE) is first
    assert unreachable.cache_info().hits == 1
