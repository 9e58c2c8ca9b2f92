"""Teams (departments) of agents with business hours and response-time targets (S2–S4)."""
