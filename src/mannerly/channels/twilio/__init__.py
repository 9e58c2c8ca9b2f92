"""Twilio Messages API channel: adapter, signature rule and a local fake server."""
