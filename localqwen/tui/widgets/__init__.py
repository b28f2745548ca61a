"""Widgets the screens share, one per file."""
