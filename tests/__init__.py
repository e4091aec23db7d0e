"""Switchboard test suite; mirrors the packages."""
