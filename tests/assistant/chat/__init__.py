"""Tests of assistant/chat/."""
