"""Tests of the codebase's shape."""
