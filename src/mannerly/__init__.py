"""Mannerly: customer messaging with good manners enforced by the software."""

__version__ = "0.1.0"
