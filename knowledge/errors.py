"""Errors of the knowledge library: unreadable files, models and indexes that are not there."""

from __future__ import annotations

from core.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PaymentRequired,
    PermissionDenied,
    SwitchboardError,
    TooLarge,
    Unavailable,
)


class KnowledgeError(SwitchboardError):
    """The knowledge library could not do that."""

    code = "knowledge_error"


class UnsupportedFileType(InvalidInput, KnowledgeError):
    """This kind of file is not supported: use PDF, DOCX, XLSX, Markdown, text, HTML, CSV, JSON."""

    code = "unsupported_file_type"


class CorruptFile(InvalidInput, KnowledgeError):
    """The file is damaged or not what its content claims to be, so it cannot be read."""

    code = "corrupt_file"


class EncryptedFile(InvalidInput, KnowledgeError):
    """The file is protected by a password; upload an unprotected copy."""

    code = "encrypted_file"


class FileTooLarge(TooLarge, KnowledgeError):
    """The file is larger than the library allows."""

    code = "file_too_large"


class TooManyPages(TooLarge, KnowledgeError):
    """The document has more pages than the library allows."""

    code = "too_many_pages"


class DecompressionBomb(TooLarge, KnowledgeError):
    """The file expands to far more data than it holds (a compression bomb), so it was refused."""

    code = "decompression_bomb"


class ParsingTimedOut(TooLarge, KnowledgeError):
    """Reading the file took longer than the library allows."""

    code = "parsing_timed_out"


class ParserCrashed(Unavailable, KnowledgeError):
    """The process reading the file stopped unexpectedly; the file was not indexed."""

    code = "parser_crashed"


class EmbeddingModelUnavailable(Unavailable, KnowledgeError):
    """The embedding model could not be loaded; check the SWITCHBOARD_EMBEDDING_MODEL setting."""

    code = "embedding_model_unavailable"


class VectorStoreUnavailable(Unavailable, KnowledgeError):
    """The vector store is not available; with several workers set SWITCHBOARD_QDRANT_URL."""

    code = "vector_store_unavailable"


class IndexModelMismatch(Conflict, KnowledgeError):
    """The index was built with another embedding model; reindex the library before using it."""

    code = "index_model_mismatch"


class FolderNotFound(NotFound, KnowledgeError):
    """No such library folder, or you may not see it."""

    code = "folder_not_found"


class LibraryFileNotFound(NotFound, KnowledgeError):
    """No such library file, or you may not see it."""

    code = "file_not_found"


class FolderNotEmpty(Conflict, KnowledgeError):
    """The folder still holds files; delete or move them first."""

    code = "folder_not_empty"


class TooManyFiles(TooLarge, KnowledgeError):
    """Too many files in one upload; send them in smaller batches."""

    code = "too_many_files"


class OwnerMismatch(InvalidInput, KnowledgeError):
    """A file and its folder must belong to the same user or team."""

    code = "owner_mismatch"


class JobNotFound(NotFound, KnowledgeError):
    """No such job, or you may not see it."""

    code = "job_not_found"


class JobAlreadyRunning(Conflict, KnowledgeError):
    """The job is running now; wait for the run to finish."""

    code = "job_already_running"


class InvalidJob(InvalidInput, KnowledgeError):
    """The job's type, parameters, schedule or time zone cannot be used."""

    code = "invalid_job"


class NoOneToBill(PaymentRequired, KnowledgeError):
    """Embeddings here cost money and this file has no uploader to bill; upload it again."""

    code = "no_one_to_bill"


class JobReadOnly(PermissionDenied, KnowledgeError):
    """This job is shared with you to see and run, not to change."""

    code = "job_read_only"


class NotAJobDraft(Conflict, KnowledgeError):
    """That job is not a draft, or has no open draft; open one with POST /api/jobs/{id}/_edit."""

    code = "not_a_job_draft"


class MailNotConfigured(Unavailable, KnowledgeError):
    """E-mail is not set up on this server (SWITCHBOARD_SMTP_HOST and SWITCHBOARD_SMTP_FROM)."""

    code = "mail_not_configured"


class MailFailed(Unavailable, KnowledgeError):
    """The mail server did not take the message."""

    code = "mail_failed"


class SyncOverStorageQuota(TooLarge, KnowledgeError):
    """A library sync left files out: they would take their owner's storage over its limit."""

    code = "library_sync_over_storage_quota"
