"""The official `anthropic` Python SDK against Sentinel's `POST /v1/messages`."""

from __future__ import annotations

import anthropic
import pytest

from conftest import assert_request_id


@pytest.fixture(params=["", "/"], ids=["root", "root-slash"])
def client(sentinel, request) -> anthropic.Anthropic:
    # The SDK appends `/v1/messages` itself, so base_url is the gateway root
    # (see test_base_url_with_v1_is_not_found for the other spelling).
    return anthropic.Anthropic(api_key=sentinel["key"], base_url=sentinel["gateway"] + request.param, max_retries=0)


def test_messages_create(client):
    raw = client.messages.with_raw_response.create(
        model="claude-sdk", max_tokens=64, system="be brief",
        messages=[{"role": "user", "content": "hello there"}],
    )
    assert raw.headers["x-sentinel-request-id"]
    message = raw.parse()
    assert message.type == "message" and message.role == "assistant"
    assert message.content[0].type == "text"
    assert message.content[0].text == "echo: hello there"
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0


def test_messages_stream_helper(client):
    with client.messages.stream(
        model="claude-sdk", max_tokens=64, messages=[{"role": "user", "content": "one two three"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "echo: one two three"
    assert final.content[0].text == text
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0


def test_tool_use_round_trip(client):
    # Anthropic tools → OpenAI tools upstream → tool_calls → tool_use blocks.
    message = client.messages.create(
        model="claude-tools", max_tokens=64,
        tools=[{"name": "get_weather", "description": "Weather for a city",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}],
        messages=[{"role": "user", "content": "Weather in Paris?"}],
    )
    assert message.stop_reason == "tool_use"
    block = next(b for b in message.content if b.type == "tool_use")
    assert block.name == "get_weather"
    assert block.input == {"city": "Paris"}


def test_bad_key_is_an_authentication_error(sentinel):
    client = anthropic.Anthropic(api_key="snt_sdk_not_a_real_key", base_url=sentinel["gateway"], max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as caught:
        client.messages.create(model="claude-sdk", max_tokens=8, messages=[{"role": "user", "content": "hi"}])
    error = caught.value
    assert error.status_code == 401
    assert error.type == "authentication_error"
    assert error.body["error"]["code"] == "invalid_api_key"
    assert_request_id(error)


def test_unknown_model_is_not_found(client):
    with pytest.raises(anthropic.NotFoundError) as caught:
        client.messages.create(model="no-such-model", max_tokens=8, messages=[{"role": "user", "content": "hi"}])
    error = caught.value
    assert error.type == "not_found_error"
    assert error.body["error"]["code"] == "model_not_found"
    assert_request_id(error)


def test_unsupported_feature_is_a_bad_request(client):
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(
            model="claude-sdk", max_tokens=2048, thinking={"type": "enabled", "budget_tokens": 1024},
            messages=[{"role": "user", "content": "hi"}],
        )
    error = caught.value
    assert error.type == "invalid_request_error"
    assert "thinking" in error.api_message
    assert_request_id(error)


def test_base_url_with_v1_is_not_found(sentinel):
    # The SDK would call /v1/v1/messages: a clear 404 in Anthropic's shape,
    # not a hang or an unparseable body.
    client = anthropic.Anthropic(api_key=sentinel["key"], base_url=sentinel["gateway"] + "/v1", max_retries=0)
    with pytest.raises(anthropic.NotFoundError) as caught:
        client.messages.create(model="claude-sdk", max_tokens=8, messages=[{"role": "user", "content": "hi"}])
    assert_request_id(caught.value)
