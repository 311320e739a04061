"""Personal-data protection (crypto-shredding): pseudonyms, per-subject keys, erasure.

Ingest replaces each user id by a pseudonym (HMAC-SHA256 with the platform secret) and
encrypts the personal fields of each event with the subject's own AES-GCM key; the
domain and the read models see only pseudonyms and ciphertext. Forgetting a subject
deletes its key: the hash-chained log stays byte for byte as it was, and unreadable.
"""
