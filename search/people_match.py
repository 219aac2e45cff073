"""How a name typed by a user finds a person: full name, alias or first name (case-insensitive)."""

PERSON_MATCH = (
    "(p.key = lower(%(person)s) OR lower(%(person)s) = ANY(p.aliases) OR split_part(p.key, ' ', 1) = lower(%(person)s))"
)
