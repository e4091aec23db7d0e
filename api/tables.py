"""Every package's tables in one metadata, for migrations and the schema check."""

from __future__ import annotations

import assistant.attachments.models
import assistant.models
import billing.models
import core.mcp_oauth.models
import core.models
import knowledge.models
import toolkits.models
from core.database import Base

metadata = Base.metadata
MODEL_MODULES = (
    core.models,
    core.mcp_oauth.models,
    assistant.models,
    assistant.attachments.models,
    billing.models,
    knowledge.models,
    toolkits.models,
)
