"""Connectors to systems outside Granary: the SMS gateway, and the reference credit-bureau
connector other teams copy (docs/connectors.md)."""
