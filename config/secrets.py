"""API keys at rest: Fernet encryption with SIGNAL_SECRET_KEY, masking, and redaction of texts."""

from __future__ import annotations

import base64
import os
import re

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from config.settings import ConfigError, Settings

_KEY_PATTERN = re.compile(r"SG\.[A-Za-z0-9_\-]{6,}\.[A-Za-z0-9_\-]{6,}|SG\.[A-Za-z0-9_\-.]{20,}")


def _fernet_key(secret: str) -> bytes:
    """A valid Fernet key is used as it is; any other string is stretched with HKDF-SHA256."""
    try:
        if len(base64.urlsafe_b64decode(secret.encode())) == 32:
            return secret.encode()
    except (ValueError, TypeError):
        pass
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"signal-sendgrid", info=b"api-key-at-rest")
    return base64.urlsafe_b64encode(hkdf.derive(secret.encode()))


def secret_for(settings: Settings) -> str:
    """SIGNAL_SECRET_KEY, or on the embedded database a key file beside its data, generated once (mode 0600).

    A database named by DATABASE_URL is shared with processes on other machines, which a key file generated
    here would not reach: there the key is handed in."""
    if settings.secret_key:
        return settings.secret_key
    if not settings.embedded_database:
        raise ConfigError("SIGNAL_SECRET_KEY is not set: it is required with DATABASE_URL to encrypt API keys")
    secret_file = settings.home / "secret.key"
    if not secret_file.exists():
        secret_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(Fernet.generate_key().decode())
    return secret_file.read_text().strip()


def encrypt_key(api_key: str, secret: str) -> str:
    return Fernet(_fernet_key(secret)).encrypt(api_key.encode()).decode()


def decrypt_key(token: str, secret: str) -> str:
    try:
        return Fernet(_fernet_key(secret)).decrypt(token.encode()).decode()
    except InvalidToken as e:
        raise ConfigError("SIGNAL_SECRET_KEY does not decrypt the stored API key (was it changed?)") from e


def mask_key(api_key: str) -> str:
    """`SG.…wxyz`: enough to tell keys apart, never enough to use one."""
    return f"{api_key[:3]}…{api_key[-4:]}" if len(api_key) > 10 else "…"


def redact(text: str, *secrets: str) -> str:
    """Remove the given secrets, and anything shaped like a SendGrid key, from a text."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, mask_key(secret))
    return _KEY_PATTERN.sub(lambda m: mask_key(m.group(0)), text)
