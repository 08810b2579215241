"""Secret keys: generating, loading (environment and key file), AES-GCM encryption.

A key is 32 random bytes written in URL-safe base64 (what ``orchestra keys new`` prints).
Its **key id** is derived from the key (the first 12 hex digits of a SHA-256 over it), so the
same key has the same id everywhere and a record encrypted under it names it without
revealing it. Several keys can be configured at once (for rotation): the first one, the
*primary* key, encrypts; every configured key decrypts what was encrypted under it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from attrs import field, frozen
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ._errors import SecretsError

__all__ = (
    "KEY_ENV",
    "KEY_FILE_ENV",
    "Key",
    "KeyRing",
    "default_key_file",
    "generate_key",
    "write_key_file",
)

#: Environment variable holding one or more keys (comma- or space-separated, newest first).
KEY_ENV = "ORCHESTRA_SECRET_KEY"
#: Environment variable naming the key file (default: ``orchestra.key`` in ``ORCHESTRA_HOME``).
KEY_FILE_ENV = "ORCHESTRA_SECRET_KEY_FILE"

_KEY_BYTES = 32
_NONCE_BYTES = 12
_FORMAT = "v1"

_FILE_HEADER = (
    "# Orchestra secret keys, newest first: the first key encrypts, every key decrypts.\n"
    "# Keep this file readable by its owner only (mode 0600) and back it up apart from the\n"
    "# store: without it, the stored credentials cannot be decrypted.\n"
)


def default_key_file(environ: Mapping[str, str] | None = None) -> Path:
    """The key file: ``ORCHESTRA_SECRET_KEY_FILE``, else ``orchestra.key`` in
    ``ORCHESTRA_HOME`` (default: the working directory)."""
    env = os.environ if environ is None else environ
    if env.get(KEY_FILE_ENV):
        return Path(env[KEY_FILE_ENV]).expanduser()
    return Path(env.get("ORCHESTRA_HOME", ".")).expanduser() / "orchestra.key"


def generate_key() -> str:
    """A fresh random 256-bit key, as text."""
    return base64.urlsafe_b64encode(os.urandom(_KEY_BYTES)).decode("ascii")


def _key_id(raw: bytes) -> str:
    return hashlib.sha256(b"orchestra-secret-key-id:" + raw).hexdigest()[:12]


@frozen
class Key:
    """One key: its id and its bytes (never shown by ``repr``).

    :param source: where it was configured (``ORCHESTRA_SECRET_KEY`` or the key file's path).
    """

    id: str
    raw: bytes = field(repr=False)
    source: str = ""

    @classmethod
    def parse(cls, text: str, source: str) -> Key:
        """The key written as *text*; :class:`SecretsError` (not quoting *text*) if invalid."""
        cleaned = text.strip()
        try:
            raw = base64.urlsafe_b64decode(cleaned + "=" * (-len(cleaned) % 4))
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != _KEY_BYTES:
            raise SecretsError(
                f"{source}: not an Orchestra secret key (expected 32 random bytes in URL-safe "
                "base64, as `orchestra keys new` prints)")
        return cls(_key_id(raw), raw, source)


def _split(text: str) -> list[str]:
    words: list[str] = []
    for line in text.splitlines():
        line = line.split("#", 1)[0]
        words.extend(w for w in line.replace(",", " ").split() if w)
    return words


def _check_private(path: Path) -> None:
    if os.name == "nt":  # pragma: no cover - POSIX permissions only
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise SecretsError(
            f"key file {path} has mode {mode:04o}: it must be readable by its owner only; "
            f"run: chmod 600 {path}")


class KeyRing:
    """The configured keys, newest (primary) first.

    Build one with :meth:`load` (environment and key file), :meth:`from_text` or
    :meth:`from_keys`; an empty ring can decrypt nothing and encrypt nothing.
    """

    def __init__(self, keys: Iterable[Key] = (), *, key_file: Path | None = None) -> None:
        unique: dict[str, Key] = {}
        for key in keys:
            unique.setdefault(key.id, key)
        self.keys: tuple[Key, ...] = tuple(unique.values())
        #: the key file looked at (for messages), when the ring came from :meth:`load`
        self.key_file = key_file
        self._by_id = unique
        self._aead = {k.id: AESGCM(k.raw) for k in self.keys}

    # -- building ------------------------------------------------------------------------------

    @classmethod
    def from_text(cls, text: str, source: str = KEY_ENV) -> KeyRing:
        """Keys written in *text*: separated by commas, spaces or lines, newest first;
        ``#`` starts a comment."""
        return cls([Key.parse(word, source) for word in _split(text)])

    @classmethod
    def from_keys(cls, *keys: str) -> KeyRing:
        """A ring of the given key texts, newest first."""
        return cls([Key.parse(k, "key") for k in keys])

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> KeyRing:
        """The keys of key file *path*, which must be readable by its owner only."""
        path = Path(path)
        try:
            _check_private(path)
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise SecretsError(f"key file {path} does not exist") from None
        except OSError as exc:
            raise SecretsError(f"cannot read key file {path}: {exc.strerror or exc}") from None
        except UnicodeDecodeError as exc:
            raise SecretsError(f"key file {path} is not text: byte {exc.start + 1} cannot be "
                               "decoded as UTF-8 (it holds keys as `orchestra keys new` "
                               "prints them)") from None
        ring = cls([Key.parse(word, f"key file {path}") for word in _split(text)],
                   key_file=path)
        return ring

    @classmethod
    def load(cls, *, key_file: str | os.PathLike[str] | None = None,
             environ: Mapping[str, str] | None = None) -> KeyRing:
        """The keys of ``ORCHESTRA_SECRET_KEY`` first, then those of the key file (*key_file*,
        ``ORCHESTRA_SECRET_KEY_FILE`` or ``orchestra.key`` in ``ORCHESTRA_HOME``) if it
        exists. The first key found is the primary one."""
        env = os.environ if environ is None else environ
        keys: list[Key] = []
        if env.get(KEY_ENV, "").strip():
            keys.extend(cls.from_text(env[KEY_ENV]).keys)
        path = Path(key_file).expanduser() if key_file is not None else default_key_file(env)
        if path.exists() or key_file is not None:
            keys.extend(cls.from_file(path).keys)
        return cls(keys, key_file=path)

    # -- using ---------------------------------------------------------------------------------

    def __bool__(self) -> bool:
        return bool(self.keys)

    def __len__(self) -> int:
        return len(self.keys)

    def __contains__(self, key_id: object) -> bool:
        return key_id in self._by_id

    @property
    def ids(self) -> list[str]:
        """The configured key ids, primary first."""
        return [k.id for k in self.keys]

    @property
    def primary(self) -> Key:
        """The key new secrets are encrypted with; :class:`SecretsError` when none is set."""
        if not self.keys:
            where = f" or the key file {self.key_file}" if self.key_file else ""
            raise SecretsError(
                f"no secret key is configured: set {KEY_ENV}{where}; `orchestra init` "
                "creates a key file, `orchestra keys new` prints a new key")
        return self.keys[0]

    def encrypt(self, plaintext: bytes, aad: bytes) -> tuple[str, str]:
        """``(key_id, token)``: *plaintext* encrypted under the primary key, bound to *aad*."""
        key = self.primary
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead[key.id].encrypt(nonce, plaintext, aad)
        return key.id, f"{_FORMAT}:" + base64.b64encode(nonce + sealed).decode("ascii")

    def decrypt(self, key_id: str, token: str, aad: bytes, what: str) -> bytes:
        """The plaintext of *token*, encrypted under *key_id*; *what* names the record in
        the :class:`SecretsError` raised when the key is missing or the data was altered."""
        aead = self._aead.get(key_id)
        if aead is None:
            configured = ", ".join(self.ids) or "none"
            where = f" or the key file ({self.key_file})" if self.key_file else ""
            raise SecretsError(
                f"{what} is encrypted with key id {key_id}, which is not configured "
                f"(configured key ids: {configured}); add that key to {KEY_ENV}{where}",
                key_id=key_id)
        try:
            version, _, body = token.partition(":")
            if version != _FORMAT:
                raise ValueError(version)
            blob = base64.b64decode(body, validate=True)
            return aead.decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], aad)
        except (InvalidTag, ValueError, binascii.Error):
            raise SecretsError(
                f"{what} cannot be decrypted with key id {key_id}: the stored value was "
                "altered or belongs to another record", key_id=key_id) from None


def write_key_file(path: str | os.PathLike[str], keys: Sequence[str]) -> Path:
    """Write *keys* (newest first) to key file *path*, mode 0600, replacing it atomically."""
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(_FILE_HEADER + "".join(f"{k}\n" for k in keys))
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
