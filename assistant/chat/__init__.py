"""The chat runtime: chats, branches, history, the turn engine, runs, tools in chat."""
