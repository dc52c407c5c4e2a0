# The renewal engine (quotes, renewals unique per order and cycle, attempts,
# sweep runs) lands with its own issue; this app is where it lives.
