"""bridge's version as the installed metadata gives it, read from the METADATA headers only."""

from __future__ import annotations

import importlib.metadata

import pytest

from bridge.core.version import header_version, package_version, user_agent


def test_the_version_is_the_installed_distributions() -> None:
    try:
        expected = importlib.metadata.version("bridge")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("bridge is not installed here")
    assert package_version() == expected
    assert user_agent("x").startswith(f"bridge/{expected} (python ")


def test_the_version_header_is_read_from_the_header_block_only() -> None:
    text = (
        "Metadata-Version: 2.4\nName: bridge\nSummary: a long\n  folded Version: 9\n"
        "Version: 0.1.0\nRequires-Dist: x\n\n# README\nVersion: 7.7.7\n"
    )
    assert header_version(text) == "0.1.0"
    assert header_version("Name: bridge\n\nVersion: 1.0\n") is None  # only in the body
    assert header_version("version:  2.0 \n") == "2.0"
    assert header_version("Version:\n") is None
    assert header_version(None) is None and header_version("") is None
