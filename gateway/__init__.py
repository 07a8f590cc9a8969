"""The REST gateway: the one public entry of Granary."""
