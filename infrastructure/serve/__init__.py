"""`neonblue serve`: the long-running home of the read side (ARCHITECTURE principle 8)."""
