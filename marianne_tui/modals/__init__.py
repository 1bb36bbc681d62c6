"""Dialogs pushed over a screen."""
