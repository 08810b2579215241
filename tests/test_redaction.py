"""The redactor on its own: every registered secret is masked wherever it appears, whole."""

from __future__ import annotations

import threading

import pytest

from orchestra_core import Redactor
from orchestra_core._redaction import MASK, MIN_SECRET_LENGTH


def redactor(*secrets: str) -> Redactor:
    found = Redactor()
    found.add(*secrets)
    return found


def test_a_secret_is_masked_everywhere_it_appears():
    r = redactor("s3cret-token")
    assert r.mask("a s3cret-token and s3cret-token.") == f"a {MASK} and {MASK}."
    assert r.mask("nothing here") == "nothing here"
    assert r.mask("") == ""


@pytest.mark.parametrize("order", [("abcd", "abcdefgh"), ("abcdefgh", "abcd")])
def test_the_longer_of_two_secrets_sharing_a_prefix_is_masked_whole(order):
    r = redactor(*order)
    assert r.mask("key=abcdefgh;") == f"key={MASK};"  # not "*****efgh"
    assert r.mask("key=abcd;") == f"key={MASK};"


@pytest.mark.parametrize("order", [("wxyz", "abcdwxyz"), ("abcdwxyz", "wxyz")])
def test_the_longer_of_two_secrets_sharing_a_suffix_is_masked_whole(order):
    r = redactor(*order)
    assert r.mask("abcdwxyz") == MASK


def test_overlapping_secrets_leave_no_part_of_either_in_clear():
    r = redactor("abcd1234", "1234wxyz")
    masked = r.mask("<abcd1234wxyz>")
    assert masked == f"<{MASK}>"
    for part in ("abcd", "1234", "wxyz"):
        assert part not in masked


@pytest.mark.parametrize("order", [("abcd1234", "cd12"), ("cd12", "abcd1234")])
def test_a_secret_inside_a_longer_one_does_not_shorten_its_mask(order):
    r = redactor(*order)
    assert r.mask("[abcd1234]") == f"[{MASK}]"
    assert r.mask("[xxcd12yy]") == f"[xx{MASK}yy]"
    r.add("first-secret")  # the same after another masked stretch
    assert r.mask("first-secret [abcd1234]") == f"{MASK} [{MASK}]"


def test_overlapping_secrets_after_another_secret_are_masked_together():
    r = redactor("first-secret", "abcd1234", "1234wxyz")
    assert r.mask("first-secret and abcd1234wxyz!") == f"{MASK} and {MASK}!"


def test_adjacent_secrets_are_masked_each():
    r = redactor("aaaa", "bbbb")
    assert r.mask("aaaabbbb") == MASK + MASK


def test_a_secret_with_regex_characters_is_masked_literally():
    r = redactor("p.a*s+s(1)?")
    assert r.mask("pw p.a*s+s(1)? end") == f"pw {MASK} end"
    assert r.mask("pXaas+s(1)") == "pXaas+s(1)"


def test_the_minimum_length_is_exactly_min_secret_length():
    assert MIN_SECRET_LENGTH == 4
    r = redactor("abc", "wxyz")
    assert r.mask("abc wxyz") == f"abc {MASK}"  # 3 characters: not a secret; 4: masked
    assert "abc" not in r and "wxyz" in r
    assert len(r) == 1


@pytest.mark.parametrize("ignored", [None, "", "a", "ab", "abc"])
def test_empty_and_short_values_are_ignored(ignored):
    r = redactor(ignored)
    assert len(r) == 0
    assert r.mask("a ab abc") == "a ab abc"


def test_mask_obj_masks_keys_values_and_nested_containers():
    r = redactor("tok-secret")
    value = {"tok-secret": "x", "auth": "Bearer tok-secret",
             "nested": [{"k": ("tok-secret", 3)}, "plain", 7, None, True]}
    assert r.mask_obj(value) == {MASK: "x", "auth": f"Bearer {MASK}",
                                 "nested": [{"k": (MASK, 3)}, "plain", 7, None, True]}
    assert "tok-secret" in str(value)  # the original is not changed


def test_mask_obj_keeps_container_types_and_non_text_values():
    r = redactor("tok-secret")
    masked = r.mask_obj(["tok-secret", ("tok-secret",), 1.5])
    assert masked == [MASK, (MASK,), 1.5]
    assert type(masked[1]) is tuple
    assert r.mask_obj(b"tok-secret") == b"tok-secret"  # bytes are not JSON-like text


def test_an_empty_redactor_returns_values_unchanged():
    r = Redactor()
    value = {"a": ["b"]}
    assert r.mask_obj(value) is value
    assert r.mask("anything") == "anything"


def test_clear_forgets_everything():
    r = redactor("tok-secret")
    r.clear()
    assert len(r) == 0 and r.mask("tok-secret") == "tok-secret"
    r.add("tok-secret")
    assert r.mask("tok-secret") == MASK


def test_extend_and_repeated_add():
    r = Redactor()
    r.extend(["first-secret", None, "second-secret"])
    r.add("first-secret")
    assert len(r) == 2
    assert r.mask("first-secret second-secret") == f"{MASK} {MASK}"


def test_two_redactors_do_not_share_secrets():
    a, b = redactor("only-in-a"), Redactor()
    assert b.mask("only-in-a") == "only-in-a"
    assert a.mask("only-in-a") == MASK


def test_secrets_added_from_threads_are_all_masked():
    r = Redactor()
    secrets = [f"secret-{i:04d}" for i in range(200)]

    def add(chunk):
        for s in chunk:
            r.add(s)

    threads = [threading.Thread(target=add, args=(secrets[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(r) == 200
    assert r.mask(" ".join(secrets)) == " ".join([MASK] * 200)
