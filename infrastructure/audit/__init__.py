"""Audit and operations: hash chain, verification, checkpoints, replay, export, reports."""
