"""Secret keys: generation, where keys come from (environment, key file), key ids, AES-GCM
encryption and the errors for a missing, wrong or malformed key."""

from __future__ import annotations

import os

import pytest

from orchestra_core._secrets import (
    KeyRing,
    SecretsError,
    default_key_file,
    generate_key,
    write_key_file,
)


def test_a_generated_key_is_256_random_bits_with_a_stable_id():
    key = generate_key()
    ring = KeyRing.from_keys(key)
    assert len(ring.primary.raw) == 32
    assert ring.primary.id == KeyRing.from_keys(key).primary.id  # derived from the key
    assert len(ring.primary.id) == 12
    assert generate_key() != key
    assert KeyRing.from_keys(generate_key()).primary.id != ring.primary.id
    assert key not in repr(ring.primary)


def test_a_malformed_key_is_refused_without_being_echoed():
    bad = "not-a-key-" + "x" * 30
    with pytest.raises(SecretsError) as info:
        KeyRing.from_text(bad)
    assert "ORCHESTRA_SECRET_KEY: not an Orchestra secret key" in str(info.value)
    assert bad not in str(info.value)
    short = generate_key()[:20]
    with pytest.raises(SecretsError):
        KeyRing.from_text(short)


def test_several_keys_newest_first_in_the_environment():
    new, old = generate_key(), generate_key()
    for text in (f"{new},{old}", f"{new} {old}", f" {new} ,\n{old}\n"):
        ring = KeyRing.load(environ={"ORCHESTRA_SECRET_KEY": text,
                                     "ORCHESTRA_HOME": "/nonexistent"})
        assert ring.ids == [KeyRing.from_keys(new).primary.id, KeyRing.from_keys(old).primary.id]
        assert ring.primary.source == "ORCHESTRA_SECRET_KEY"


def test_key_file_is_written_0600_and_read_newest_first(tmp_path):
    new, old = generate_key(), generate_key()
    path = write_key_file(tmp_path / "keys" / "orchestra.key", [new, old])
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    text = path.read_text()
    assert text.startswith("# Orchestra secret keys")
    ring = KeyRing.from_file(path)
    assert ring.ids == KeyRing.from_keys(new, old).ids
    assert ring.primary.source == f"key file {path}"


def test_key_file_readable_by_others_is_refused(tmp_path):
    path = write_key_file(tmp_path / "orchestra.key", [generate_key()])
    os.chmod(path, 0o644)
    with pytest.raises(SecretsError, match=r"has mode 0644: it must be readable by its owner "
                                           r"only; run: chmod 600 "):
        KeyRing.from_file(path)
    with pytest.raises(SecretsError, match="does not exist"):
        KeyRing.from_file(tmp_path / "missing.key")


def test_load_takes_the_environment_first_then_the_default_key_file(tmp_path):
    in_env, in_file = generate_key(), generate_key()
    write_key_file(tmp_path / "orchestra.key", [in_file])
    env = {"ORCHESTRA_HOME": str(tmp_path)}
    assert default_key_file(env) == tmp_path / "orchestra.key"
    assert KeyRing.load(environ=env).ids == KeyRing.from_keys(in_file).ids
    env["ORCHESTRA_SECRET_KEY"] = in_env
    assert KeyRing.load(environ=env).ids == KeyRing.from_keys(in_env, in_file).ids
    other = write_key_file(tmp_path / "other.key", [in_file])
    env2 = {"ORCHESTRA_SECRET_KEY_FILE": str(other)}
    assert default_key_file(env2) == other
    assert KeyRing.load(environ=env2).primary.source == f"key file {other}"


def test_no_key_configured_says_how_to_configure_one(tmp_path):
    ring = KeyRing.load(environ={"ORCHESTRA_HOME": str(tmp_path)})
    assert not ring
    with pytest.raises(SecretsError, match=r"no secret key is configured: set "
                                           r"ORCHESTRA_SECRET_KEY or the key file .*orchestra "
                                           r"init"):
        ring.encrypt(b"x", b"aad")


def test_encrypt_decrypt_round_trip_and_binding_to_the_record():
    ring = KeyRing.from_keys(generate_key())
    key_id, token = ring.encrypt(b"hunter2-password", b"credential/a")
    assert key_id == ring.primary.id
    assert b"hunter2" not in token.encode()
    assert ring.decrypt(key_id, token, b"credential/a", "credential 'a'") == b"hunter2-password"
    # a fresh nonce each time
    assert ring.encrypt(b"hunter2-password", b"credential/a")[1] != token
    # the ciphertext of one record does not decrypt as another's
    with pytest.raises(SecretsError, match=r"credential 'b' cannot be decrypted with key id "
                                           rf"{key_id}: the stored value was altered"):
        ring.decrypt(key_id, token, b"credential/b", "credential 'b'")
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(SecretsError, match="altered"):
        ring.decrypt(key_id, tampered, b"credential/a", "credential 'a'")


def test_wrong_key_names_the_record_and_the_key_id():
    writer = KeyRing.from_keys(generate_key())
    key_id, token = writer.encrypt(b"value-1234", b"aad")
    reader = KeyRing.from_keys(generate_key())
    with pytest.raises(SecretsError) as info:
        reader.decrypt(key_id, token, b"aad", "credential 'warehouse'")
    message = str(info.value)
    assert message.startswith(f"credential 'warehouse' is encrypted with key id {key_id}, "
                              "which is not configured (configured key ids: "
                              f"{reader.primary.id})")
    assert info.value.key_id == key_id


def test_old_keys_still_decrypt_after_a_new_one_is_added():
    old = generate_key()
    key_id, token = KeyRing.from_keys(old).encrypt(b"value-1234", b"aad")
    both = KeyRing.from_keys(generate_key(), old)
    assert both.decrypt(key_id, token, b"aad", "x") == b"value-1234"
    assert both.encrypt(b"v", b"aad")[0] == both.primary.id != key_id
