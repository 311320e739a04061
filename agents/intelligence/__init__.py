"""Experiment intelligence: gather -> analyse -> recommend -> (approval) -> act."""
