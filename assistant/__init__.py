"""Assistants, skills, secrets, chats, messages and the model loop."""
