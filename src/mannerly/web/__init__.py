"""The web UI: login, the three-pane inbox, contacts, templates, topics, settings and the phone simulator."""
