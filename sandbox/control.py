"""A small client for the sandbox's ``/_sandbox`` control API, for tests, demos and benchmarks."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests


class SandboxControl:
    """Inspect and steer a running sandbox over HTTP (``url`` is e.g. ``http://127.0.0.1:8089``)."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, path: str, body: dict | None = None) -> Any:
        response = requests.request(method, f"{self.url}/_sandbox{path}", json=body, timeout=self.timeout)
        response.raise_for_status()
        return response.json()

    def health(self) -> bool:
        return bool(self._call("GET", "/health").get("ok"))

    def contacts(self) -> list[dict]:
        return self._call("GET", "/contacts")["contacts"]

    def contact(self, email: str) -> dict | None:
        return next((c for c in self.contacts() if c.get("email") == email.lower()), None)

    def requests_log(self) -> list[dict]:
        return self._call("GET", "/requests")["requests"]

    def jobs(self) -> list[dict]:
        return self._call("GET", "/jobs")["jobs"]

    def job_errors(self, job_id: str) -> list[dict]:
        return self._call("GET", f"/jobs/{job_id}/errors")["errors"]

    def flush_jobs(self) -> int:
        return self._call("POST", "/flush-jobs")["applied"]

    def suppressions(self) -> dict:
        return self._call("GET", "/suppressions")

    def faults(self) -> dict:
        return self._call("GET", "/faults")

    def set_faults(self, **faults: Any) -> dict:
        """E.g. ``set_faults(error_rate=0.3, error_status=503, storm_429={"count": 5}, seed=1)``."""
        return self._call("POST", "/faults", faults)

    def clear_faults(self) -> dict:
        return self._call("DELETE", "/faults")

    def add_key(self, key: str, scopes: list[str] | None = None) -> None:
        self._call("POST", "/keys", {"key": key, **({"scopes": scopes} if scopes is not None else {})})

    def revoke(self, key: str) -> None:
        self._call("POST", f"/keys/{quote(key, safe='')}/revoke")

    def restore(self, key: str) -> None:
        self._call("POST", f"/keys/{quote(key, safe='')}/restore")

    def add_list(self, list_id: str, name: str | None = None) -> None:
        self._call("POST", "/lists", {"id": list_id, "name": name or list_id})

    def add_group(self, group_id: int, name: str | None = None) -> None:
        self._call("POST", "/groups", {"id": group_id, "name": name or str(group_id)})

    def settings(self, **changes: Any) -> dict:
        """Read, or change, ``apply_delay``, ``rate_limit``, ``rate_window``, ``relative_reset``."""
        return self._call("POST", "/settings", changes) if changes else self._call("GET", "/settings")

    def reset(self, keys: bool = False, lists: bool = False) -> None:
        self._call("POST", "/reset", {"keys": keys, "lists": lists})
