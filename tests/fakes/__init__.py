"""Fakes of what lies outside the product, served for real on loopback."""
