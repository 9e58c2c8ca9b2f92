"""Automations (O7): birthday and anniversary greetings, win-back, event-triggered messages and date reminders.

Every message they create goes through messages.service.submit (the etiquette engine); each
occurrence is claimed by a unique automation_runs row in the same transaction as its message.
"""
