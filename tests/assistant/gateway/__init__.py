"""Tests of assistant/gateway/."""
