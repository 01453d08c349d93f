"""The gate ledger and what is computed from it: transitions, flakiness, the Tier-2 check."""
