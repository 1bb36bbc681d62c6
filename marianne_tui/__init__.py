"""marianne-tui: a live terminal console for Marianne's global learning store."""
