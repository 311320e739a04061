"""Experiment intelligence: recommendation policy and the Recommendation aggregate."""
