"""The one backoff formula and the two policies that share it."""

import random

import attrs
import pytest

from orchestra_core import HttpRetry, TaskRetry, backoff


def test_exponential_growth_capped_without_jitter():
    waits = [backoff(n, delay=1.0, backoff=2.0, max_delay=10.0, jitter=0) for n in range(1, 7)]
    assert waits == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


@pytest.mark.parametrize("jitter", [0.1, 0.5, 1.0])
def test_jitter_draws_a_fraction_of_the_wait_below_the_base(jitter):
    rng = random.Random(7)
    waits = [backoff(3, delay=1.0, backoff=2.0, max_delay=60.0, jitter=jitter, rng=rng)
             for _ in range(500)]
    assert all(4.0 * (1 - jitter) <= w <= 4.0 for w in waits)
    assert len(set(waits)) > 400  # spread, not one value
    if jitter == 1.0:  # full jitter reaches down towards zero
        assert min(waits) < 0.2


def test_a_seeded_rng_repeats_the_waits():
    def waits(seed):
        rng = random.Random(seed)
        return [HttpRetry().wait(n, rng) for n in range(1, 6)]

    assert waits(3) == waits(3)
    assert waits(3) != waits(4)


def test_huge_retry_numbers_wait_the_cap_instead_of_overflowing():
    policy = TaskRetry(count=18446744073709551616, delay=10, backoff=2, max_delay=600,
                       jitter=0)
    assert policy.wait(1025) == 600
    assert policy.wait(10**6) == 600
    assert policy.wait(10**18) == 600  # a float power: no giant integer


def test_both_policies_have_the_same_fields_and_units():
    task = {f.name for f in attrs.fields(TaskRetry)}
    http = {f.name for f in attrs.fields(HttpRetry)}
    assert task == {"count", "delay", "backoff", "max_delay", "jitter"}
    assert http == task | {"max_retry_after"}
    assert TaskRetry(delay=2, backoff=3, jitter=0).wait(3) == 18
    assert HttpRetry(delay=2, backoff=3, jitter=0).wait(3) == 18


def test_http_retry_rejects_impossible_values():
    with pytest.raises(ValueError):
        HttpRetry(jitter=2)
    with pytest.raises(ValueError):
        HttpRetry(count=-1)
