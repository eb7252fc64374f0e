"""The official `openai` Python SDK against Sentinel's OpenAI routes."""

from __future__ import annotations

import json

import openai
import pytest
from pydantic import BaseModel

from conftest import assert_request_id


@pytest.fixture(params=["/v1", "/v1/"], ids=["v1", "v1-slash"])
def client(sentinel, request) -> openai.OpenAI:
    # The SDK appends `/chat/completions` etc. to base_url, so it must end in
    # /v1 (with or without a slash); max_retries=0 so that Sentinel's own
    # retries and errors are what the tests see.
    return openai.OpenAI(api_key=sentinel["key"], base_url=sentinel["gateway"] + request.param, max_retries=0)


def test_chat_completion(client):
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-sdk", messages=[{"role": "user", "content": "hello there"}]
    )
    assert raw.headers["x-sentinel-request-id"]
    completion = raw.parse()
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content == "echo: hello there"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens > 0


def test_streaming_with_final_usage_chunk(client):
    stream = client.chat.completions.create(
        model="gpt-sdk",
        messages=[{"role": "user", "content": "one two three"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: one two three"
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    # The last chunk carries usage and no choices.
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0
    assert all(c.usage is None for c in chunks[:-1])


def test_streaming_without_usage_has_no_usage_chunk(client):
    # Sentinel asks upstreams for usage anyway (for its records) and must
    # not hand the extra chunk to a client that did not ask for it.
    chunks = list(client.chat.completions.create(
        model="gpt-sdk", messages=[{"role": "user", "content": "no usage"}], stream=True
    ))
    assert all(c.choices and c.usage is None for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "echo: no usage"


def test_stream_helper_final_completion(client):
    with client.chat.completions.stream(
        model="gpt-sdk", messages=[{"role": "user", "content": "streamed words"}]
    ) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == "echo: streamed words"


class GetWeather(BaseModel):
    city: str
    unit: str


def test_tool_calls_parsed_by_the_sdk(client):
    completion = client.chat.completions.parse(
        model="gpt-tools",
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[openai.pydantic_function_tool(GetWeather)],
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.type == "function" and call.function.name == "GetWeather"
    assert isinstance(call.function.parsed_arguments, GetWeather)
    assert call.function.parsed_arguments.city == "Paris"


def test_streamed_tool_calls(client):
    tools = [{"type": "function", "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }}]
    with client.chat.completions.stream(
        model="gpt-tools", messages=[{"role": "user", "content": "Weather in Paris?"}], tools=tools
    ) as stream:
        final = stream.get_final_completion()
    call = final.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert final.choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize("encoding_format", [None, "float"])
def test_embeddings(client, encoding_format):
    # The SDK asks for base64 unless told otherwise, and decodes either form.
    extra = {"encoding_format": encoding_format} if encoding_format else {}
    response = client.embeddings.create(model="text-embedding-sdk", input=["a cat", "a dog"], **extra)
    assert [d.index for d in response.data] == [0, 1]
    assert all(len(d.embedding) == 8 and isinstance(d.embedding[0], float) for d in response.data)
    assert response.data[0].embedding != response.data[1].embedding
    assert response.usage.prompt_tokens > 0


def test_models_list(client):
    ids = {m.id for m in client.models.list()}
    assert {"gpt-sdk", "claude-sdk", "text-embedding-sdk", "gpt-tools"} <= ids


def test_bad_key_is_an_authentication_error(sentinel):
    client = openai.OpenAI(api_key="snt_sdk_not_a_real_key", base_url=sentinel["gateway"] + "/v1", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        client.chat.completions.create(model="gpt-sdk", messages=[{"role": "user", "content": "hi"}])
    error = caught.value
    assert error.status_code == 401
    assert error.type == "authentication_error"
    assert error.code == "invalid_api_key"
    assert_request_id(error)


def test_unknown_model_is_not_found(client):
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
    error = caught.value
    assert error.code == "model_not_found"
    assert "gpt-sdk" in error.message, "the message lists the available models"
    assert_request_id(error)


def test_malformed_request_is_a_bad_request(client):
    # `stream` must be a boolean; the SDK sends extra_body as it is.
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="gpt-sdk", messages=[{"role": "user", "content": "hi"}], extra_body={"stream": "yes"}
        )
    error = caught.value
    assert error.type == "invalid_request_error"
    assert error.code == "invalid_request"
    assert_request_id(error)


def test_upstream_rate_limit_is_a_rate_limit_error(client):
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="gpt-limited", messages=[{"role": "user", "content": "hi"}])
    error = caught.value
    assert error.status_code == 429
    assert error.type == "rate_limit_error"
    assert error.code == "rate_limited"
    assert_request_id(error)
