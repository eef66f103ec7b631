"""Devices: a Protocol per kind, a real driver and a simulator each, built from config by type."""
