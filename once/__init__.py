"""Paying requests at most once: a manual renewal or a top-up sent with a key
(the API's ``Idempotency-Key``, the customer panel's one-time form token) is
paid once per (login, key), and a second request with that key gets the
first one's answer (once/idempotency.py says why a retry never charges
twice). Both faces call these services; neither imports the other.
"""
