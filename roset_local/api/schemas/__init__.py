"""Typed request and response shapes of the HTTP contract, one module per resource (msgspec Structs)."""
