"""Data subjects: pseudonyms the domain sees instead of user ids, and their erasure."""
