"""Constants, credentials (encrypted with AES-GCM) and connections, shared by every pipeline.

See ``docs/secrets.md``. The Python API mirrors the ``orchestra constants``,
``credentials``, ``connections`` and ``keys`` commands::

    from orchestra_core._secrets import Secrets

    with Secrets.open("orchestra.db", host=orchestra) as secrets:
        secrets.constants.set("region", "eu-west-1")
        secrets.credentials.set("api", secrets={"token": token})
        secrets.connections.add("api", integration="http", base_url="https://api.example.com",
                                auth="bearer", credential="api")
"""

from ._api import Secrets as Secrets
from ._errors import SecretsError as SecretsError
from ._keys import KEY_ENV as KEY_ENV
from ._keys import KEY_FILE_ENV as KEY_FILE_ENV
from ._keys import Key as Key
from ._keys import KeyRing as KeyRing
from ._keys import default_key_file as default_key_file
from ._keys import generate_key as generate_key
from ._keys import write_key_file as write_key_file
from ._records import ConnectionInfo as ConnectionInfo
from ._records import ConstantInfo as ConstantInfo
from ._records import CredentialInfo as CredentialInfo
from ._records import KeyUsage as KeyUsage
from ._records import RotationReport as RotationReport
from ._resolve import Catalog as Catalog
from ._resolve import RunSecrets as RunSecrets
from ._resolve import check_keys_for as check_keys_for
from ._resolve import connection_from_env as connection_from_env
from ._resolve import register_secret_values as register_secret_values
from ._resolve import register_stored_secrets as register_stored_secrets

__all__ = (
    "AUTH_SCHEMES",
    "KEY_ENV",
    "KEY_FILE_ENV",
    "TOKEN_FIELDS",
    "Catalog",
    "ConnectionInfo",
    "Connections",
    "ConstantInfo",
    "Constants",
    "CredentialInfo",
    "Credentials",
    "Key",
    "KeyRing",
    "KeyUsage",
    "Keys",
    "RotationReport",
    "RunSecrets",
    "Secrets",
    "SecretsError",
    "check_keys_for",
    "connection_from_env",
    "default_key_file",
    "generate_key",
    "register_secret_values",
    "register_stored_secrets",
    "write_key_file",
)

#: names loaded with their module when first asked for (they bring SQLAlchemy; a run needs
#: none of them)
_LAZY = {"AUTH_SCHEMES": "_connections", "TOKEN_FIELDS": "_connections",
         "Connections": "_connections", "Constants": "_constants",
         "Credentials": "_credentials", "Keys": "_key_operations"}


def _public(obj: object) -> object:
    if isinstance(obj, type):  # public names show as orchestra_core._secrets.X
        obj.__module__ = __name__
    return obj


def __getattr__(name: str) -> object:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = _public(getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name))
    globals()[name] = value
    return value


for _name in __all__:
    if _name not in _LAZY:
        _public(globals()[_name])
del _name
