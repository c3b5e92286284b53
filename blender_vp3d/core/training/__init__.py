"""Training code: needs torch, runs in the development environment, excluded from the add-on zip."""
