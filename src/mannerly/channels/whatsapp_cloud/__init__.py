"""The WhatsApp Cloud API channel (SPEC C3) and click-to-chat (C9)."""
