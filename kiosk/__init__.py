"""Library front-desk kiosk: reader cards, fees, returns and visitors."""

__version__ = "0.1.0"
