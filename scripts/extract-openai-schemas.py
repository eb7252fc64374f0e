#!/usr/bin/env python3
"""Extracts the response schemas Sentinel's OpenAI routes must satisfy from
OpenAI's published OpenAPI description (MIT-licensed, openai/openai-openapi),
with every schema they reference, converted to plain JSON Schema.

usage: scripts/extract-openai-schemas.py ../shared/specs/openai-openapi.yaml \
           > crates/sentinel/tests/fixtures/openai-schemas.json

OpenAPI-only keywords are translated: `nullable: true` becomes a union with
null; `discriminator`, `x-*`, `example(s)` and `deprecated` are dropped.
"""
import hashlib
import json
import sys

import yaml

ROOTS = [
    "CreateChatCompletionResponse",
    "CreateChatCompletionStreamResponse",
    "CreateEmbeddingResponse",
    "ListModelsResponse",
    "ErrorResponse",
]
DROP = {"discriminator", "example", "examples", "deprecated", "externalDocs", "xml"}


def convert(node):
    if isinstance(node, list):
        return [convert(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in DROP or key.startswith("x-"):
            continue
        if key == "$ref":
            out["$ref"] = value.replace("#/components/schemas/", "#/$defs/")
            continue
        out[key] = convert(value)
    if out.pop("nullable", False):
        if "type" in out:
            t = out["type"]
            out["type"] = (t if isinstance(t, list) else [t]) + ["null"]
            if "enum" in out and None not in out["enum"]:
                out["enum"] = out["enum"] + [None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


def refs(node, found):
    if isinstance(node, list):
        for n in node:
            refs(n, found)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and value.startswith("#/components/schemas/"):
                found.add(value.rsplit("/", 1)[1])
            else:
                refs(value, found)


def main():
    path = sys.argv[1]
    raw = open(path, "rb").read()
    spec = yaml.safe_load(raw)
    schemas = spec["components"]["schemas"]
    wanted, todo = set(), list(ROOTS)
    while todo:
        name = todo.pop()
        if name in wanted:
            continue
        wanted.add(name)
        found = set()
        refs(schemas[name], found)
        todo.extend(found - wanted)
    doc = {
        "$comment": "Extracted by scripts/extract-openai-schemas.py from openai-openapi.yaml "
        f"(sha256 {hashlib.sha256(raw).hexdigest()}); MIT-licensed, (c) OpenAI.",
        "$defs": {name: convert(schemas[name]) for name in sorted(wanted)},
    }
    json.dump(doc, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
