"""Tests of assistant/."""
