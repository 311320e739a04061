"""The web dashboard of `neonblue serve`: server-rendered pages over the read side."""
