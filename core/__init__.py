"""The kernel every package stands on: settings, database, identity, the model catalog, errors, clock, ids."""
