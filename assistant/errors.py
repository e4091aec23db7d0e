"""Errors of chats, messages and model calls."""

from __future__ import annotations

from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied, TooLarge, Unavailable


class ChatNotFound(NotFound):
    """No such chat."""

    code = "chat_not_found"


class MessageNotFound(NotFound):
    """No such message in this chat."""

    code = "message_not_found"


class NothingToRegenerate(Conflict):
    """Only the latest answer of a chat can be regenerated, once it has finished."""

    code = "nothing_to_regenerate"


class NotAUserMessage(Conflict):
    """Only your own messages can be edited; regenerate an answer instead."""

    code = "not_a_user_message"


class NotAnAnswer(Conflict):
    """Only an answer can be rated; this message is the user's own."""

    code = "not_an_answer"


class NothingToContinue(Conflict):
    """Only the last answer of the chat's active branch can be continued, once it has finished."""

    code = "nothing_to_continue"


class ChatFolderNotFound(NotFound):
    """No such chat folder."""

    code = "chat_folder_not_found"


class ChatFolderNameTaken(Conflict):
    """You already have a chat folder with that name; pick another."""

    code = "chat_folder_name_taken"


class ShareNotFound(NotFound):
    """No such shared chat; the link may have been revoked."""

    code = "share_not_found"


class StillStreaming(Conflict):
    """The previous answer is still being written; wait for it or cancel it first."""

    code = "still_streaming"


class ToolStepLimit(Conflict):
    """The model kept calling tools past the step limit; the answer was stopped there."""

    code = "tool_step_limit"


class ProviderError(Unavailable):
    """The model provider failed; try again, or pick another model."""

    code = "provider_unavailable"


class ProviderRejected(InvalidInput):
    """The model provider refused the request."""

    code = "provider_rejected"


class PromptTooLong(InvalidInput):
    """The message is too long for the model's context window; shorten it or pick a larger model."""

    code = "prompt_too_long"


class AssistantNotFound(NotFound):
    """No such assistant, or it is not shared with you."""

    code = "assistant_not_found"


class AssistantReadOnly(PermissionDenied):
    """You may use this assistant but not edit it; ask its owner for edit permission."""

    code = "assistant_read_only"


class ToolkitNotOnAssistant(InvalidInput):
    """Only toolkits the assistant carries get its secrets; an editor must add this one to it."""

    code = "toolkit_not_on_assistant"


class NotADraft(Conflict):
    """That assistant is not a draft; open one with POST /api/assistants/{id}/_edit."""

    code = "not_a_draft"


class InvalidSharing(InvalidInput):
    """Team sharing needs a team you belong to; private and instance sharing take no team."""

    code = "invalid_sharing"


class InvalidAssistantExport(InvalidInput):
    """That is not an assistant export this version of Switchboard can read."""

    code = "invalid_assistant_export"


class SkillNotFound(NotFound):
    """No such skill on this assistant."""

    code = "skill_not_found"


class SkillNameTaken(Conflict):
    """This assistant already has a skill of that name; pick another."""

    code = "skill_name_taken"


class InvalidSkillFile(InvalidInput):
    """The skill is not a SKILL.md (YAML front matter with name and description) or a zip of one."""

    code = "invalid_skill_file"


class SkillFileTooLarge(TooLarge):
    """The skill archive or its SKILL.md is larger than allowed."""

    code = "skill_file_too_large"


class SecretNotFound(NotFound):
    """This assistant has no secret of that name."""

    code = "secret_not_found"


class SecretExists(Conflict):
    """This assistant already has a secret of that name; PUT it to replace the value."""

    code = "secret_exists"


class SecretUnreadable(Conflict):
    """A stored secret cannot be decrypted (other key, or the row was altered); set it again."""

    code = "secret_unreadable"


class MemoryNotFound(NotFound):
    """No such memory of yours on this assistant."""

    code = "memory_not_found"


class NoPendingApproval(NotFound):
    """No answer of this chat is waiting for a decision on that tool call."""

    code = "no_pending_approval"


class KnowledgeItemNotFound(NotFound):
    """This assistant has no such knowledge item or file."""

    code = "assistant_knowledge_not_found"


class TooManyEmbeddingInputs(InvalidInput):
    """An embeddings request has more inputs, or more tokens in all, than one request may."""

    code = "too_many_embedding_inputs"


class ResponseNotFound(NotFound):
    """No such stored response, or it is not yours."""

    code = "response_not_found"


class ConversationTooLong(InvalidInput):
    """The conversation under previous_response_id is as long as one may be; start a new one."""

    code = "conversation_too_long"


class StorageQuotaExceeded(TooLarge):
    """This upload would take your stored files over your storage limit."""

    code = "storage_quota_exceeded"
