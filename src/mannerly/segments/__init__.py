"""Segments (O5): saved, dynamic filters over contacts, compiled to SQL."""
