"""Model tooling for the reference stack: make, import, train, prune and evaluate checkpoints."""
