"""API keys at rest: Fernet encryption with SIGNAL_SECRET_KEY, masking, and redaction of texts."""

from __future__ import annotations

import os
import re

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from config.settings import ConfigError, Settings, check_fernet_keys

_KEY_PATTERN = re.compile(r"SG\.[A-Za-z0-9_\-]{6,}\.[A-Za-z0-9_\-]{6,}|SG\.[A-Za-z0-9_\-.]{20,}")
NOT_DECRYPTED = (
    "SIGNAL_SECRET_KEY does not decrypt the stored API key: was it changed? Give the old key after the new one "
    "(SIGNAL_SECRET_KEY=new,old), then run `signal-sendgrid rotate-keys`"
)


def secret_for(settings: Settings) -> str:
    """SIGNAL_SECRET_KEY (Fernet keys, newest first), or on the embedded database a key file beside its data,
    generated once (mode 0600) and checked like the setting.

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
    return check_fernet_keys(f"the key file {secret_file}", secret_file.read_text().strip())


def _keys(secret: str) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in check_fernet_keys("SIGNAL_SECRET_KEY", secret).split(",")])


def encrypt_key(api_key: str, secret: str) -> str:
    """Encrypted with the newest (first) key of the secret."""
    return _keys(secret).encrypt(api_key.encode()).decode()


def decrypt_key(token: str, secret: str) -> str:
    """Decrypted with whichever key of the secret encrypted it."""
    try:
        return _keys(secret).decrypt(token.encode()).decode()
    except InvalidToken as e:
        raise ConfigError(NOT_DECRYPTED) from e


def reencrypt_key(token: str, secret: str) -> str:
    """The same API key encrypted with the newest key (MultiFernet.rotate); ConfigError if no key decrypts it."""
    try:
        return _keys(secret).rotate(token.encode()).decode()
    except InvalidToken as e:
        raise ConfigError(NOT_DECRYPTED) from e


def uses_newest_key(token: str, secret: str) -> bool:
    try:
        Fernet(secret.split(",", 1)[0].encode()).decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def mask_key(api_key: str) -> str:
    """`SG.…wxyz`: enough to tell keys apart, never enough to use one."""
    return f"{api_key[:3]}…{api_key[-4:]}" if len(api_key) > 10 else "…"


def redact(text: str, *secrets: str) -> str:
    """Remove the given secrets, and anything shaped like a SendGrid key, from a text."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, mask_key(secret))
    return _KEY_PATTERN.sub(lambda m: mask_key(m.group(0)), text)
