"""The sandbox as its own process (``python -m sandbox``) and its click command."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
import requests
from click.testing import CliRunner

from sandbox import DEFAULT_KEY, make_key
from sandbox.cli import sandbox_command


def test_the_command_is_named_sandbox_and_documents_its_options():
    assert sandbox_command.name == "sandbox"
    result = CliRunner().invoke(sandbox_command, ["--help"])
    assert result.exit_code == 0
    for option in (
        "--port",
        "--key",
        "--list",
        "--apply-delay",
        "--rate-limit",
        "--relative-reset",
        "--latency-ms",
        "--error-rate",
        "--error-status",
        "--reset-rate",
    ):
        assert option in result.output


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_runs_as_its_own_process_until_interrupted(stop_signal):
    limited = make_key("cli")
    command = [
        sys.executable,
        "-m",
        "sandbox",
        "--port",
        "0",
        "--apply-delay",
        "0",
        "--key",
        DEFAULT_KEY,
        "--key",
        f"{limited}:marketing_campaigns.read",
    ]
    # The command is built above from constants: no untrusted input reaches it.
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:  # noqa: S603
        try:
            banner = []
            for line in process.stdout:  # ends early if the process dies
                banner.append(line)
                if line.startswith("Ctrl-C"):
                    break
            url = banner[0].rsplit(" ", 1)[-1].strip()
            assert url.startswith("http://127.0.0.1:")
            headers = {"Authorization": f"Bearer {DEFAULT_KEY}"}
            assert requests.get(url + "/v3/scopes", headers=headers, timeout=5).status_code == 200
            limited_headers = {"Authorization": f"Bearer {limited}"}
            assert (
                requests.get(url + "/v3/asm/suppressions/global", headers=limited_headers, timeout=5).status_code == 403
            )
        finally:
            process.send_signal(stop_signal)
            out, _ = process.communicate(timeout=10)
    printed = "".join(banner) + out
    assert DEFAULT_KEY in printed  # the public demo key is shown in full
    assert limited not in printed  # any other key is masked
    assert process.returncode == 0
