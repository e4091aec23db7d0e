"""A `/v1/messages` request shaped as Claude Code sends one, for the gateway bench.

Claude Code (the CLI, `ANTHROPIC_BASE_URL` pointed at a gateway) streams every turn with its key in
`x-api-key`, `anthropic-version` and `anthropic-beta` headers, a system prompt in text blocks
marked for prompt caching, its tools with JSON schemas, `metadata.user_id`, `temperature` 1 and a
large `max_tokens`; the user's turn carries a `<system-reminder>` block before the text. The real
system prompt and tool descriptions are ~15k tokens; these are shortened to ~1.8k tokens so the
bench measures the gateway, not the tokenizer (both servers count the prompt).
"""

from __future__ import annotations

from typing import Any

INSTRUCTIONS = (
    "You are an interactive CLI tool that helps users with software engineering tasks. Use the "
    "instructions below and the tools available to you to assist the user. Keep answers short "
    "and direct; do not add preamble or postamble unless asked. When you edit code, follow the "
    "conventions of the file: mimic its style, use its libraries and utilities, and never assume "
    "that a library is available. Before you change a file, read it. Use the search tools to "
    "understand the codebase and the user's query, in parallel where you can. Verify a solution "
    "with tests where possible; run the project's lint and typecheck commands after a change. "
    "Never commit changes unless the user asks you to. "
) * 8
CACHE = {"type": "ephemeral"}


def _tool(name: str, summary: str, **properties: str) -> dict[str, Any]:
    return {
        "name": name,
        "description": summary,
        "input_schema": {
            "type": "object",
            "properties": {
                key: {"type": "string", "description": d} for key, d in properties.items()
            },
            "required": list(properties)[:1],
            "additionalProperties": False,
            "$schema": "http://json-schema.org/draft-07/schema#",
        },
    }


TOOLS = [
    _tool(
        "Bash",
        "Executes a given bash command in a persistent shell session with an optional timeout.",
        command="The command to execute",
        description="Clear, concise description of what this command does in 5-10 words",
    ),
    _tool(
        "Read",
        "Reads a file from the local filesystem. The file_path must be an absolute path.",
        file_path="The absolute path to the file to read",
    ),
    _tool(
        "Edit",
        "Performs exact string replacements in files. You must read the file first.",
        file_path="The absolute path to the file to modify",
        old_string="The text to replace",
        new_string="The text to replace it with",
    ),
    _tool(
        "Grep",
        "A powerful search tool built on ripgrep. Supports full regex syntax.",
        pattern="The regular expression pattern to search for in file contents",
        path="File or directory to search in. Defaults to the current working directory.",
    ),
    _tool(
        "Glob",
        "Fast file pattern matching tool that works with any codebase size.",
        pattern="The glob pattern to match files against",
    ),
]


def claude_code_body(model: str) -> dict[str, Any]:
    """A streamed Messages request for `model`, in Claude Code's shape."""
    reminder = (
        "<system-reminder>As you answer the user's questions, you can use the following context: "
        "the working directory is /home/user/project, a git repository.</system-reminder>"
    )
    return {
        "model": model,
        "max_tokens": 32000,
        "temperature": 1,
        "stream": True,
        "metadata": {"user_id": "user_0123456789abcdef_account__session_bench"},
        "system": [
            {
                "type": "text",
                "text": "You are Claude Code, Anthropic's official CLI for Claude.",
                "cache_control": CACHE,
            },
            {"type": "text", "text": INSTRUCTIONS, "cache_control": CACHE},
        ],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": reminder},
                    {"type": "text", "text": "Say something.", "cache_control": CACHE},
                ],
            }
        ],
        "tools": TOOLS,
    }


def claude_code_headers(key: str) -> dict[str, str]:
    """Claude Code's headers: the key in `x-api-key`, Anthropic's version and betas."""
    return {
        "x-api-key": key,
        "anthropic-version": "2023-06-01",
        "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14",
        "user-agent": "claude-cli/2.0.0 (external, cli)",
    }
