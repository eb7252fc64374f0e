"""Configures a fresh Sentinel for the SDK tests through its admin API, the
way an operator would, and writes what the tests need as JSON.

usage: python configure.py CONSOLE_URL GATEWAY_URL MOCK_UPSTREAM_URL OUT_JSON
env:   SENTINEL_TOKEN (the bootstrap admin token)

The environment `sdk` gets an application, a key and these route plans:
  gpt-sdk, claude-sdk      built-in mock (echo answers, 4 stream chunks)
  text-embedding-sdk       built-in mock embeddings
  gpt-limited              mock failing with 429, one attempt (no retry)
  gpt-tools, claude-tools  the Python mock upstream (tool calls)
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request

DOCUMENT = """\
providers:
  mock:
    kind: mock
    options: {{ stream_chunks: 4 }}
  mock-429:
    kind: mock
    options: {{ fail_status: 429 }}
  tools-upstream:
    kind: openai_compatible
    base_url: {mock_url}/v1
    allow_private_network: true
route_plans:
  chat:
    models: [gpt-sdk, claude-sdk]
    targets:
      - {{ provider: mock, model: demo-echo }}
  embeddings:
    models: [text-embedding-sdk]
    targets:
      - {{ provider: mock, model: demo-embed }}
  limited:
    models: [gpt-limited]
    retry: {{ max_attempts: 1 }}
    targets:
      - {{ provider: mock-429, model: demo-echo }}
  tools:
    models: [gpt-tools, claude-tools]
    targets:
      - {{ provider: tools-upstream, model: tool-model }}
"""

MODELS = ["gpt-sdk", "claude-sdk", "text-embedding-sdk", "gpt-limited", "gpt-tools", "claude-tools"]


def call(method: str, url: str, token: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read().decode()
    except urllib.error.HTTPError as error:
        sys.exit(f"{method} {url} -> {error.code}: {error.read().decode(errors='replace')}")
    return json.loads(text) if text else {}


def main() -> None:
    console, gateway, mock_url, out = sys.argv[1:5]
    token = os.environ["SENTINEL_TOKEN"]
    api = f"{console}/api/v1"
    call("POST", f"{api}/environments", token, {"name": "sdk"})
    call("POST", f"{api}/environments/sdk/applications", token, {"name": "sdk-tests"})
    call("POST", f"{api}/environments/sdk/config", token,
         {"document": DOCUMENT.format(mock_url=mock_url), "message": "SDK compatibility tests"})
    key = call("POST", f"{api}/environments/sdk/keys", token, {"application": "sdk-tests", "name": "sdk"})["key"]

    # The gateway picks configuration and keys up asynchronously (within a
    # second): wait until the key works and every model is served.
    deadline = time.monotonic() + 30
    while True:
        request = urllib.request.Request(f"{gateway}/v1/models", headers={"authorization": f"Bearer {key}"})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                served = {m["id"] for m in json.load(response)["data"]}
            if served.issuperset(MODELS):
                break
        except urllib.error.HTTPError:
            pass
        if time.monotonic() > deadline:
            sys.exit("the gateway never served the SDK test models")
        time.sleep(0.05)

    with open(out, "w", encoding="utf-8") as file:
        json.dump({"gateway": gateway, "console": console, "key": key, "token": token}, file)


if __name__ == "__main__":
    main()
