"""Errors of chats, messages and model calls."""

from __future__ import annotations

from core.errors import Conflict, InvalidInput, NotFound, Unavailable


class ChatNotFound(NotFound):
    """No such chat."""

    code = "chat_not_found"


class MessageNotFound(NotFound):
    """No such message in this chat."""

    code = "message_not_found"


class NothingToRegenerate(Conflict):
    """Only the latest answer of a chat can be regenerated, once it has finished."""

    code = "nothing_to_regenerate"


class StillStreaming(Conflict):
    """The previous answer is still being written; wait for it or cancel it first."""

    code = "still_streaming"


class ProviderError(Unavailable):
    """The model provider failed; try again, or pick another model."""

    code = "provider_unavailable"


class ProviderRejected(InvalidInput):
    """The model provider refused the request."""

    code = "provider_rejected"


class PromptTooLong(InvalidInput):
    """The message is too long for the model's context window; shorten it or pick a larger model."""

    code = "prompt_too_long"
