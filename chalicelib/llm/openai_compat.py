"""The one adapter to an LLM provider: the OpenAI-compatible chat completions API over httpx, with a
tool-calling loop over the MCP tool registry.

``answer()`` sends the question with the tools the caller may use (as JSON schemas), runs every
tool call through the registry (scopes checked, secrets scrubbed before the provider sees a
result), feeds the results back, and stops at the model's final answer. The last allowed step is
sent with ``tool_choice: "none"`` so the model must answer instead of calling more tools.

With no provider configured the client refuses to exist (LLMNotConfigured): BorgOS never fakes an
answer. httpx is imported lazily to keep the Lambda's cold start lean.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from aws_lambda_powertools import Logger
from pydantic import ConfigDict, ValidationError

from chalicelib.mcp.registry import ToolContext, ToolError, ToolRegistry, ToolSpec
from chalicelib.mcp.scrub import scrub
from chalicelib.models.common import Model

if TYPE_CHECKING:
    import httpx

logger = Logger(service="borgos", child=True)

DEFAULT_MAX_STEPS = 5
DEFAULT_TIMEOUT_S = 25.0  # below API Gateway's 29 s limit: /mcp/query answers synchronously
SYSTEM_PROMPT = (
    "You are the assistant of BorgOS, a control plane for a developer's projects, deployments, "
    "errors and code. Use the tools to look things up; never invent data a tool did not return. "
    "When the answer is a list or structured data, reply with JSON only, without commentary."
)
_JSON_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


@dataclass(frozen=True)
class LLMConfig:
    base_url: str | None = None
    api_key: str | None = None
    model: str | None = None
    max_steps: int = DEFAULT_MAX_STEPS
    timeout_s: float = DEFAULT_TIMEOUT_S

    @property
    def configured(self) -> bool:
        """A base URL and a model are required; the key is optional (local providers need none)."""
        return bool(self.base_url and self.model)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LLMConfig:
        env = os.environ if environ is None else environ
        return cls(
            base_url=env.get("BORGOS_LLM_BASE_URL") or None,
            api_key=env.get("BORGOS_LLM_API_KEY") or None,
            model=env.get("BORGOS_LLM_MODEL") or None,
            max_steps=int(env.get("BORGOS_LLM_MAX_STEPS") or DEFAULT_MAX_STEPS),
            timeout_s=float(env.get("BORGOS_LLM_TIMEOUT_S") or DEFAULT_TIMEOUT_S),
        )


class TokenUsage(Model):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
        )


class LLMAnswer(Model):
    result: Any
    tokens_used: int
    model: str
    steps: int
    usage: TokenUsage

    def reference_body(self) -> dict[str, Any]:
        """The reference's reply: ``{"result": [...], "tokens_used": 125, "model": "gpt-4o-mini"}``."""
        return {"result": self.result, "tokens_used": self.tokens_used, "model": self.model}


class LLMError(Exception):
    """Base error; ``usage`` counts the tokens already spent (record them even on failure)."""

    code = "LLM_ERROR"

    def __init__(self, message: str, *, usage: TokenUsage | None = None, model: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.usage = usage or TokenUsage()
        self.model = model


class LLMNotConfigured(LLMError):
    code = "LLM_NOT_CONFIGURED"


class LLMUnavailable(LLMError):
    """The provider could not be reached or did not answer in time."""

    code = "DEPENDENCY_UNAVAILABLE"


class LLMProviderError(LLMError):
    """The provider answered with an error status or a body that is not a chat completion."""

    code = "LLM_PROVIDER_ERROR"

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        provider_code: str | None = None,
        retry_after: str | None = None,
        usage: TokenUsage | None = None,
        model: str | None = None,
    ) -> None:
        super().__init__(message, usage=usage, model=model)
        self.status_code = status_code
        self.provider_code = provider_code
        self.retry_after = retry_after


class LLMStepLimitExceeded(LLMError):
    code = "LLM_STEP_LIMIT"


# The parts of the chat completions wire format we read; anything else is ignored.
class _Wire(Model):
    model_config = ConfigDict(extra="ignore")


class FunctionCall(_Wire):
    name: str
    arguments: str


class ToolCall(_Wire):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class AssistantMessage(_Wire):
    role: str = "assistant"
    content: str | None = None
    tool_calls: list[ToolCall] | None = None


class Choice(_Wire):
    index: int = 0
    message: AssistantMessage
    finish_reason: str | None = None


class ChatCompletion(_Wire):
    id: str | None = None
    model: str | None = None
    choices: list[Choice]
    usage: TokenUsage | None = None


class OpenAICompatClient:
    def __init__(self, config: LLMConfig, http: httpx.Client | None = None) -> None:
        if not config.configured:
            raise LLMNotConfigured("No LLM provider is configured (base URL and model are required)")
        if config.max_steps < 1:
            raise ValueError("max_steps must be at least 1")
        import httpx

        self._config = config
        self._model: str = config.model or ""
        self._url = f"{(config.base_url or '').rstrip('/')}/chat/completions"
        self._http = http or httpx.Client(timeout=httpx.Timeout(config.timeout_s, connect=5.0))

    @property
    def model(self) -> str:
        return self._model

    def complete(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        tool_choice: Literal["auto", "none"] | None = None,
    ) -> ChatCompletion:
        """One ``POST {base_url}/chat/completions``."""
        import httpx

        body: dict[str, Any] = {"model": self._model, "messages": messages}
        if tools:
            body["tools"] = tools
            body["tool_choice"] = tool_choice or "auto"
        headers = {"Content-Type": "application/json"}
        if self._config.api_key:
            headers["Authorization"] = f"Bearer {self._config.api_key}"
        try:
            response = self._http.post(self._url, json=body, headers=headers)
        except httpx.TimeoutException:
            raise LLMUnavailable(
                f"The LLM provider did not answer within {self._config.timeout_s:g} s"
            ) from None
        except httpx.TransportError as exc:
            raise LLMUnavailable(f"The LLM provider cannot be reached: {type(exc).__name__}") from None
        if response.status_code >= 400:
            raise _provider_error(response, self._config.api_key)
        try:
            return ChatCompletion.model_validate_json(response.content)
        except ValidationError:
            raise LLMProviderError(
                "The LLM provider returned something that is not a chat completion",
                status_code=response.status_code,
            ) from None

    def answer(
        self,
        query: str,
        registry: ToolRegistry,
        ctx: ToolContext,
        *,
        context: Mapping[str, Any] | None = None,
        system_prompt: str = SYSTEM_PROMPT,
    ) -> LLMAnswer:
        """Answer a natural-language question, calling the caller's tools as the model asks."""
        tools = registry.allowed(ctx.scopes)
        tool_schemas = [_tool_schema(spec) for spec in tools]
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": system_prompt},
            {"role": "user", "content": _user_content(query, context)},
        ]
        usage = TokenUsage()
        model = self._model
        for step in range(1, self._config.max_steps + 1):
            last_step = step == self._config.max_steps
            try:
                completion = self.complete(messages, tool_schemas, "none" if last_step else "auto")
            except LLMError as exc:
                exc.usage, exc.model = usage, model
                raise
            usage = usage + (completion.usage or TokenUsage())
            model = completion.model or model
            if not completion.choices:
                raise LLMProviderError(
                    "The LLM provider returned no choices", status_code=200, usage=usage, model=model
                )
            message = completion.choices[0].message
            if message.tool_calls:
                if last_step:
                    raise LLMStepLimitExceeded(
                        f"The model kept calling tools after {step} steps", usage=usage, model=model
                    )
                messages.append(_assistant_turn(message))
                messages.extend(self._run_tool_call(call, registry, ctx) for call in message.tool_calls)
                continue
            if message.content is None:
                reason = completion.choices[0].finish_reason or "unknown"
                raise LLMProviderError(
                    f"The model gave no answer (finish_reason: {reason})",
                    status_code=200,
                    usage=usage,
                    model=model,
                )
            return LLMAnswer(
                result=_parse_result(message.content),
                tokens_used=usage.total_tokens,
                model=model,
                steps=step,
                usage=usage,
            )
        raise AssertionError("unreachable: the last step either answers or raises")

    def _run_tool_call(self, call: ToolCall, registry: ToolRegistry, ctx: ToolContext) -> dict[str, Any]:
        content: Any
        try:
            args = json.loads(call.function.arguments or "{}")
            content = registry.call(call.function.name, args, ctx)
        except json.JSONDecodeError:
            content = {"error": "VALIDATION_ERROR", "message": "The tool arguments are not valid JSON"}
        except ToolError as exc:
            content = exc.to_dict()
        except Exception:
            logger.exception(
                "tool failed during an LLM query", tool=call.function.name, request_id=ctx.request_id
            )
            content = {"error": "INTERNAL", "message": "The tool failed"}
        return {"role": "tool", "tool_call_id": call.id, "content": json.dumps(content)}


def _tool_schema(spec: ToolSpec) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {"name": spec.name, "description": spec.description, "parameters": spec.json_schema()},
    }


def _user_content(query: str, context: Mapping[str, Any] | None) -> str:
    if not context:
        return query
    return f"{query}\n\nContext: {json.dumps(dict(context), sort_keys=True)}"


def _assistant_turn(message: AssistantMessage) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": message.content,
        "tool_calls": [call.model_dump() for call in message.tool_calls or []],
    }


def _parse_result(content: str) -> Any:
    """A JSON answer (possibly in a ```json fence) becomes data; anything else stays text."""
    text = content.strip()
    fenced = _JSON_FENCE.match(text)
    if fenced:
        text = fenced.group(1)
    if text[:1] in ("[", "{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            pass
    return content


def _provider_error(response: httpx.Response, api_key: str | None) -> LLMProviderError:
    message, provider_code = f"HTTP {response.status_code}", None
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        error = None
    if isinstance(error, dict):
        message = str(error.get("message") or message)
        provider_code = str(error.get("code") or error.get("type") or "") or None
    elif isinstance(error, str):
        message = error
    # Providers may echo part of the key back; never pass it on.
    message = scrub(message, known_secrets=[api_key] if api_key else [])
    return LLMProviderError(
        f"The LLM provider refused the request: {message}",
        status_code=response.status_code,
        provider_code=provider_code,
        retry_after=response.headers.get("retry-after"),
    )
