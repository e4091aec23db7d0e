"""The kernel: settings, database, identity, the model catalog, errors, clock, ids."""
