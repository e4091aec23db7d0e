"""`/v1/responses` for API clients: OpenAI's Responses API for every chat model of the catalog.

A request is bridged to a chat completion (`responses_format`) and runs through the `/v1`
passthrough, so it is metered exactly like `/v1/chat/completions` (source `v1`: seats, budgets,
rate limits) and reaches any provider LiteLLM or the relay speaks. With `previous_response_id`
the conversation is rebuilt from the caller's own stored responses (`stored_responses`); unless
`store` is false, the new response is kept for its owner once it completed.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from assistant.gateway import stored_responses
from assistant.gateway.chunks import Chunk, Usage
from assistant.gateway.passthrough import Passthrough, Request
from assistant.gateway.responses_format import (
    input_items,
    new_id,
    output_of,
    response_object,
    to_chat,
    usage_of,
)
from assistant.gateway.responses_stream import ResponseStream
from assistant.gateway.stored_responses import NEW_CHAIN, Chain
from billing.admission import Caller
from core import tokens
from core.database import write_transaction
from core.errors import SwitchboardError


@dataclass(frozen=True, kw_only=True)
class Opened:
    """An admitted Responses request: the chat request to make and what to store after."""

    request: Request
    body: Mapping[str, Any]
    items: list[dict[str, Any]]  # this turn's input items
    chain: Chain
    response_id: str
    created_at: int

    def response(self, **parts: Any) -> dict[str, Any]:
        """The Response object of this request with the given status, output and usage."""
        model = self.request.call.model.name
        return response_object(
            self.body,
            response_id=self.response_id,
            model=model,
            created_at=self.created_at,
            **parts,
        )


class ResponseRequests:
    """Runs `/v1/responses` requests: conversation rebuilt, call metered, response kept."""

    def __init__(
        self, *, passthrough: Passthrough, sessions: async_sessionmaker[AsyncSession]
    ) -> None:
        self.passthrough = passthrough
        self.sessions = sessions

    async def open(self, *, caller: Caller, body: Mapping[str, Any]) -> Opened:
        """Rebuild the conversation, bridge it to chat and admit the call.

        Raises:
            ResponseNotFound: `previous_response_id` is not one of the caller's responses.
            ConversationTooLong: the conversation is as long as one may be.
            InvalidInput: an item, tool or option this gateway cannot carry.
            UnknownModel: no such model.
            BillingError: billing refused the call (seat, budget, rate limit, model).
        """
        items = input_items(body["input"])
        chain = NEW_CHAIN
        previous = body.get("previous_response_id")
        if previous:
            async with self.sessions() as session:
                chain = await stored_responses.conversation(
                    session, user_id=caller.user_id, response_id=str(previous)
                )
        stored_responses.check_room(chain, items)
        chat = to_chat(body, [*chain.items, *items], body.get("max_output_tokens"))
        request = await self.passthrough.admit(caller=caller, body=chat)
        return Opened(
            request=request,
            body=body,
            items=items,
            chain=chain,
            response_id=new_id("resp"),
            created_at=int(time.time()),
        )

    async def complete(self, opened: Opened) -> dict[str, Any]:
        """The whole response, settled and (unless `store` is false) stored before it returns."""
        completion = await self.passthrough.complete(opened.request)
        usage = completion.get("usage") or {}
        cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
        thought = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0
        finish = ((completion.get("choices") or [{}])[0]).get("finish_reason")
        response = opened.response(
            status="incomplete" if finish == "length" else "completed",
            output=output_of(completion),
            usage=usage_of(
                int(usage.get("prompt_tokens") or 0),
                int(usage.get("completion_tokens") or 0),
                int(cached),
                int(thought),
            ),
        )
        await self._keep(opened, response)
        return response

    async def stream(self, opened: Opened) -> AsyncGenerator[bytes]:
        """Open the streamed answer; returns its Responses events, a write per provider read.

        Raises:
            ProviderError: every deployment failed before the first token.
        """
        batches = await self.passthrough.stream_chunks(opened.request)
        return self._events(opened, batches)

    async def _events(
        self, opened: Opened, batches: AsyncGenerator[list[Chunk]]
    ) -> AsyncGenerator[bytes]:
        events = ResponseStream(opened.response(status="in_progress", usage=None))
        yield events.start()
        usage: Usage | None = None
        produced: list[str] = []
        try:
            async for batch in batches:
                for chunk in batch:
                    usage = chunk.usage or usage
                    produced.append(chunk.reasoning + chunk.text)
                    produced.extend(
                        str((c.get("function") or {}).get("arguments") or "")
                        for c in chunk.tool_calls
                    )
                yield b"".join(events.feed(chunk) for chunk in batch)
        except SwitchboardError as exc:  # headers are sent: the failure travels as an event
            yield events.fail(exc.code, exc.message)
            return
        finally:
            await batches.aclose()
        if usage is None:
            model = opened.request.call.model.name
            usage = Usage(
                prompt_tokens=opened.request.call.prompt_tokens,
                completion_tokens=tokens.count_text("".join(produced), model),
            )
        closing = events.close()
        response = opened.response(
            status="incomplete" if events.finish_reason == "length" else "completed",
            output=events.output(),
            usage=usage_of(usage.prompt_tokens, usage.completion_tokens),
        )
        await self._keep(opened, response)
        yield closing + events.finish(response)

    async def _keep(self, opened: Opened, response: dict[str, Any]) -> None:
        if opened.body.get("store") is False:
            return
        async with write_transaction(self.sessions) as session:
            await stored_responses.save(
                session,
                user_id=opened.request.call.caller.user_id,
                chain=opened.chain,
                input_items=opened.items,
                response=response,
            )
