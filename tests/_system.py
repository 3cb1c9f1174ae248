"""System programs some tests drive (Debian's chromium, nginx, tmux, curl, redis-server),
installed on demand.

`uv run pytest` must work on a fresh machine of ours, so when a program is missing and the
tests run as root on Debian, it is installed here with apt-get (once per run, bounded). Anywhere
else the test fails with the command to run: it never skips silently.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

__all__ = ["require_program"]

_LOCK = threading.Lock()
_UPDATED: list[bool] = []
_EXTRA_PATHS = ("/usr/sbin", "/usr/bin", "/usr/lib/chromium")


def _which(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for folder in _EXTRA_PATHS:
        candidate = Path(folder) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def _apt(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(
        ["apt-get", *args], capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


def require_program(name: str, package: str) -> str:
    """The path of ``name``; installs Debian ``package`` when missing and possible."""
    found = _which(name)
    if found:
        return found
    hint = f"{name} is needed by this test: sudo apt-get install -y {package} (.ci/run does it)"
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.fail(hint, pytrace=False)
    with _LOCK:
        found = _which(name)
        if found:
            return found
        if not _UPDATED:
            _apt("update", "-qq", timeout=300)
            _UPDATED.append(True)
        result = _apt("install", "-y", "-qq", package, timeout=900)
        if package.startswith(("nginx", "redis")):
            # Debian starts the service on install; tests run their own instance.
            service = "nginx" if package.startswith("nginx") else "redis-server"
            subprocess.run(["service", service, "stop"], capture_output=True, check=False)
    found = _which(name)
    if not found:
        pytest.fail(f"{hint}\napt-get said: {result.stderr[-500:]}", pytrace=False)
    return found
