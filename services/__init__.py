"""Granary's services: one package per service, all sharing the runtime in ``services.common``."""
