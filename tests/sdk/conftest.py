"""Shared fixtures: the live Sentinel that run.sh started and configured."""

from __future__ import annotations

import json
import os

import pytest


@pytest.fixture(scope="session")
def sentinel() -> dict:
    """{"gateway": URL, "console": URL, "key": the sdk key, "token": admin token}"""
    path = os.environ.get("SENTINEL_SDK_CONFIG")
    if not path:
        pytest.exit("run these tests through tests/sdk/run.sh, which starts Sentinel", returncode=2)
    with open(path, encoding="utf-8") as file:
        return json.load(file)


def assert_request_id(error) -> str:
    """Sentinel's request id is in the error's header and body alike."""
    header = error.response.headers.get("x-sentinel-request-id")
    assert header, "every response carries x-sentinel-request-id"
    body = error.body
    # The OpenAI SDK keeps the inner `error` object as `body`; the Anthropic
    # SDK keeps the whole body, whose `request_id` is at the top level.
    found = body.get("request_id") if isinstance(body, dict) else None
    if found is None and isinstance(body, dict) and isinstance(body.get("error"), dict):
        found = body["error"].get("request_id")
    assert found == header, f"request id {header} missing from the error body {body}"
    return header
