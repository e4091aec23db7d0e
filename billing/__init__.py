"""Seats, subscriptions, budgets, reservations, prices, the usage ledger and rate limits."""
