"""Campaigns (O6): a topic, a segment, a template per language, a start time and a throttle."""
