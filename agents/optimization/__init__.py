"""Real-time optimisation: Thompson-sampling traffic reallocation for opted-in experiments."""
