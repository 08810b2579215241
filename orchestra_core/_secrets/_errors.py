"""The error of the secrets package."""

from __future__ import annotations

from .._errors import OrchestraError

__all__ = ("SecretsError",)


class SecretsError(OrchestraError):
    """A constant, credential, connection or key is missing, invalid or cannot be decrypted.

    The message names the record (and, for decryption, the key id) and never holds a secret.

    :ivar key_id: the key id concerned, when a key is missing or does not fit.
    """

    def __init__(self, message: str, *, key_id: str | None = None) -> None:
        self.key_id = key_id
        super().__init__(message)
