"""The black-box adapter: a stack in any language, as a process or container (docs/adapters.md)."""
