"""A tiny OpenAI-format upstream for the SDK tests: Sentinel's built-in
`mock` provider only echoes text, so tool calls come from here (an
`openai_compatible` provider points at it).

A request that offers tools gets a call to the first one, its arguments
made up from the tool's JSON schema (required properties only: the first
enum value, "Paris" for strings, 1 for numbers, true for booleans); any
other request gets `upstream: <last user text>`. Streams follow OpenAI's
framing, tool-call arguments split across two deltas, with the usage chunk
when `stream_options.include_usage` is set.

usage: python mock_upstream.py PORT_FILE  (listens on 127.0.0.1, a free port,
written to PORT_FILE once it accepts connections)
"""

from __future__ import annotations

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CREATED = 1_700_000_000


def example_value(schema: dict):
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "string":
        return "Paris"
    if kind in ("integer", "number"):
        return 1
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    if kind == "object":
        return example_object(schema)
    return None


def example_object(schema: dict) -> dict:
    properties = schema.get("properties", {})
    required = schema.get("required", list(properties))
    return {name: example_value(properties.get(name, {})) for name in required}


def last_user_text(body: dict) -> str:
    for message in reversed(body.get("messages", [])):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
            return content or ""
    return ""


def answer(body: dict):
    """(content, tool_calls, finish_reason) for a chat request."""
    tools = body.get("tools") or []
    if tools and body.get("tool_choice") != "none":
        function = tools[0]["function"]
        arguments = json.dumps(example_object(function.get("parameters") or {}))
        call = {"id": "call_sdk_1", "type": "function",
                "function": {"name": function["name"], "arguments": arguments}}
        return None, [call], "tool_calls"
    return f"upstream: {last_user_text(body)}", None, "stop"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep the test output quiet
        pass

    def send_json(self, status: int, value: dict):
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path.rstrip("/").endswith("/models"):
            self.send_json(200, {"object": "list", "data": [{"id": "tool-model", "object": "model",
                                                             "created": CREATED, "owned_by": "sdk-tests"}]})
        else:
            self.send_json(404, {"error": {"message": "no such path", "type": "invalid_request_error"}})

    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self.send_json(400, {"error": {"message": "invalid JSON", "type": "invalid_request_error"}})
            return
        if not self.path.endswith("/chat/completions"):
            self.send_json(404, {"error": {"message": "no such path", "type": "invalid_request_error"}})
            return
        content, tool_calls, finish = answer(body)
        usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
        if body.get("stream"):
            self.stream(body, content, tool_calls, finish, usage)
            return
        message = {"role": "assistant", "content": content, "refusal": None}
        if tool_calls:
            message["tool_calls"] = tool_calls
        self.send_json(200, {
            "id": "chatcmpl-sdk", "object": "chat.completion", "created": CREATED, "model": body.get("model"),
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
            "usage": usage,
        })

    def stream(self, body, content, tool_calls, finish, usage):
        def chunk(delta, finish_reason=None):
            return {"id": "chatcmpl-sdk", "object": "chat.completion.chunk", "created": CREATED,
                    "model": body.get("model"),
                    "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]}

        events = [chunk({"role": "assistant", "content": None if tool_calls else ""})]
        if tool_calls:
            call = tool_calls[0]
            arguments = call["function"]["arguments"]
            half = len(arguments) // 2
            events.append(chunk({"tool_calls": [{"index": 0, "id": call["id"], "type": "function",
                                                 "function": {"name": call["function"]["name"], "arguments": ""}}]}))
            for piece in (arguments[:half], arguments[half:]):
                events.append(chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}))
        else:
            events.append(chunk({"content": content}))
        events.append(chunk({}, finish))
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append({"id": "chatcmpl-sdk", "object": "chat.completion.chunk", "created": CREATED,
                           "model": body.get("model"), "choices": [], "usage": usage})
        data = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    # Written whole, then renamed: the runner never reads half a port.
    with open(sys.argv[1] + ".tmp", "w", encoding="ascii") as port_file:
        port_file.write(str(server.server_address[1]))
    os.replace(sys.argv[1] + ".tmp", sys.argv[1])
    server.serve_forever()


if __name__ == "__main__":
    main()
