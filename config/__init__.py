"""Configuration: TOML files in this folder, loaded into frozen, validated settings."""

from config.settings import Settings, load_settings

__all__ = ["Settings", "load_settings"]
