"""Bots (S6): FAQ answers, routing menus, hand-off to a person, and the call-time and branch-visit flows.

Everything a bot sends goes through messages.service.submit with Source.BOT.
"""
