"""Where connected accounts keep their grants (docs/design.md §2.3).

One JSON document per account and provider, in a 0700 folder under the state
directory, written 0600 and atomically. With FIRSTBLOCK_SECRET_KEY set, documents are
encrypted at rest with Fernet (the `cryptography` library). A file others can read is
refused, not used. Nothing here ever prints or logs a secret.

A team keeps them in its shared state instead (AccountSpec.shared), where every
worker finds them: there they must be encrypted, and are refused otherwise.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

from providers.base import AccountSpec, Documents
from providers.errors import AuthError, DataError

KEY_VARIABLE = "FIRSTBLOCK_SECRET_KEY"
_MAGIC = b"firstblock-encrypted-v1\n"


def store_for(spec: AccountSpec) -> SecretStore:
    store = SecretStore(spec.state_dir / "credentials", shared=spec.shared)
    store.read_only = spec.read_only
    return store


class SecretStore:
    def __init__(
        self, folder: Path, *, key: str | None = None, shared: Documents | None = None
    ) -> None:
        self.folder, self.shared = folder, shared
        # Read once: a key that changes mid-run would make half the files unreadable.
        self.key = key if key is not None else os.environ.get(KEY_VARIABLE, "")
        # A dry run's: a refreshed token is used, not written back.
        self.read_only = False

    def _name(self, name: str) -> str:
        return f"credentials/{name}"

    def path(self, name: str) -> Path:
        return self.folder / f"{name}.json"

    def exists(self, name: str) -> bool:
        if self.shared is not None:
            return self.shared.read(self._name(name)) is not None
        return self.path(name).exists()

    def save(self, name: str, document: dict[str, Any]) -> Path:
        """Write `document` for `name`, replacing what was there. Raises DataError."""
        if self.read_only:
            return self.path(name)
        data = json.dumps(document, sort_keys=True).encode()
        if self.key:
            data = _MAGIC + _fernet(self.key).encrypt(data)
        path = self.path(name)
        if self.shared is not None:
            if not self.key:
                raise DataError(
                    f"credentials in a team's shared state must be encrypted: set {KEY_VARIABLE}"
                )
            self.shared.write(self._name(name), data.decode("ascii"))
            return path
        try:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(self.folder, 0o700)
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-", suffix=".json")
            try:
                with os.fdopen(fd, "wb") as f:  # mkstemp creates it 0600
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise DataError(f"cannot store credentials: {exc.strerror}", where=str(path)) from exc
        return path

    def load(self, name: str) -> dict[str, Any] | None:
        """The document for `name`, or None when the account was never connected.

        Raises AuthError when it cannot be used (readable by others, encrypted with
        another key, damaged): the fix is always the user's, and never a crash.
        """
        path = self.path(name)
        if self.shared is not None:
            text = self.shared.read(self._name(name))
            if text is None:
                return None
            raw = text.encode("ascii", errors="replace")
            if not raw.startswith(_MAGIC):
                raise AuthError("shared credentials are not encrypted; connect again")
        else:
            try:
                mode = path.stat().st_mode
            except FileNotFoundError:
                return None
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise AuthError(
                    f"credentials are readable by other users; run: chmod 600 {path}",
                    where=str(path),
                )
            raw = path.read_bytes()
        if raw.startswith(_MAGIC):
            if not self.key:
                raise AuthError(f"credentials are encrypted; set {KEY_VARIABLE}", where=str(path))
            raw = _decrypt(self.key, raw[len(_MAGIC) :], path)
        try:
            document = json.loads(raw)
        except ValueError:
            raise AuthError("credentials file is damaged; connect again", where=str(path)) from None
        if not isinstance(document, dict):
            raise AuthError("credentials file is damaged; connect again", where=str(path))
        return document

    def delete(self, name: str) -> None:
        if self.shared is not None:
            self.shared.remove(self._name(name))
            return
        self.path(name).unlink(missing_ok=True)


def _fernet(key: str) -> Any:
    try:
        from cryptography.fernet import Fernet
    except ImportError:  # pragma: no cover - cryptography comes with the provider extras
        raise DataError(
            f"{KEY_VARIABLE} is set but the 'cryptography' package is missing: "
            "pip install 'firstblock[google]'"
        ) from None
    # Any string works as the key; hashing it gives Fernet the 32 bytes it needs.
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest()))


def _decrypt(key: str, token: bytes, path: Path) -> bytes:
    from cryptography.fernet import InvalidToken

    try:
        data: bytes = _fernet(key).decrypt(token)
    except InvalidToken:
        raise AuthError(
            f"credentials cannot be decrypted with this {KEY_VARIABLE}", where=str(path)
        ) from None
    return data
