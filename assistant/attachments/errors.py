"""Errors of chat attachments."""

from __future__ import annotations

from core.errors import Conflict, InvalidInput, NotFound


class AttachmentNotFound(NotFound):
    """No such attachment in this chat."""

    code = "attachment_not_found"


class AttachmentAlreadySent(Conflict):
    """This attachment was already sent with another message; upload it again."""

    code = "attachment_already_sent"


class ModelCannotSeeImages(InvalidInput):
    """The chosen model cannot see images; pick one of the models named in `models`."""

    code = "model_cannot_see_images"
