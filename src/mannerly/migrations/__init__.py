"""Alembic migrations shipped inside the package so an installed Mannerly can migrate itself."""
