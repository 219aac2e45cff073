"""One canonical person (or team) per tenant, with aliases.

"Sarah" is "Sarah Chen" when Sarah Chen is the only Sarah with a full name in the tenant; a
first-name-only person recorded earlier is merged into the full name once it appears. With two
full-name Sarahs, a bare "Sarah" stays its own (ambiguous) entry rather than being guessed.
A handle written beside a name (`Jane Q. Doe @jqdoe`) is an alias of that person, and a single
name that is part of exactly one handle ("Niko" and "nikomatsakis", "Felix" and "pnkfelix") is
the same person: communities that sign with handles say first names aloud.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from minutebook.core.database import LOCK_WAIT_SECONDS, transaction_lock
from minutebook.ingest.owners import owner_key


@dataclass
class _Person:
    id: int
    kind: str
    name: str
    key: str
    aliases: set[str]


class PeopleDirectory:
    """The tenant's people, loaded once per note transaction and updated in place."""

    def __init__(self, conn: psycopg.Connection, tenant: str) -> None:
        self.conn = conn
        self.tenant = tenant
        # people are shared by every note of the tenant: one writer at a time
        transaction_lock(
            conn, f"{tenant}\x1fpeople", seconds=LOCK_WAIT_SECONDS, busy="another ingest is updating people; retry"
        )
        rows = conn.execute(
            "SELECT id, kind, name, key, aliases FROM people WHERE tenant_id = %s", (tenant,)
        ).fetchall()
        self.people = {r[3]: _Person(r[0], r[1], r[2], r[3], set(r[4])) for r in rows}

    def _full_names_with_first(self, first: str) -> list[_Person]:
        return [p for p in self.people.values() if p.kind == "person" and " " in p.key and p.key.split()[0] == first]

    def _known(self, key: str, kind: str) -> _Person | None:
        return self.people.get(key) or next(
            (p for p in self.people.values() if p.kind == kind and key in p.aliases), None
        )

    def _handle_match(self, key: str) -> _Person | None:
        """The one single-word person whose name or handle contains this single word (or is
        contained in it): "niko" ↔ "nikomatsakis". Short words and several matches link nothing."""
        found: dict[int, _Person] = {}
        for p in self.people.values():
            if p.kind != "person":
                continue
            for word in [p.key, *p.aliases]:
                if " " in word or word == key:
                    continue
                short, long = sorted((word, key), key=len)
                if len(short) >= 4 and short in long:
                    found[p.id] = p
        return next(iter(found.values())) if len(found) == 1 else None

    def resolve(self, name: str, kind: str, role: str | None = None, handle: str | None = None) -> int:
        key = owner_key(name, kind)
        handle_key = handle.lower().lstrip("@") if handle else None
        person = self._known(key, kind) or (self._known(handle_key, kind) if handle_key else None)
        if person is None and kind == "person" and " " not in key:
            candidates = self._full_names_with_first(key)
            person = candidates[0] if len(candidates) == 1 else self._handle_match(key)
            if person is not None:
                self._add_alias(person, key)
        if person is None:
            person = self._create(name, key, kind)
            if kind == "person" and " " in key:
                self._absorb_first_name(person)
        if handle_key and handle_key != person.key:
            self._add_alias(person, handle_key)
        if key != person.key and person.kind == kind:  # found by handle or first name: keep how it was written
            self._add_alias(person, key)
        if role:
            self.conn.execute(
                "UPDATE people SET role = %s WHERE tenant_id = %s AND id = %s", (role, self.tenant, person.id)
            )
        return person.id

    def _create(self, name: str, key: str, kind: str) -> _Person:
        row = self.conn.execute(
            """INSERT INTO people (tenant_id, kind, name, key) VALUES (%s, %s, %s, %s)
               ON CONFLICT (tenant_id, key) DO UPDATE SET name = people.name
               RETURNING id""",
            (self.tenant, kind, name, key),
        ).fetchone()
        assert row is not None
        person = _Person(row[0], kind, name, key, set())
        self.people[key] = person
        return person

    def _add_alias(self, person: _Person, alias: str) -> None:
        if alias in person.aliases:
            return
        person.aliases.add(alias)
        self.conn.execute(
            "UPDATE people SET aliases = array_append(aliases, %s) WHERE tenant_id = %s AND id = %s",
            (alias, self.tenant, person.id),
        )

    def _absorb_first_name(self, person: _Person) -> None:
        """A new full name claims an earlier first-name-only entry when it is the only such name."""
        first = person.key.split()[0]
        loose = self.people.get(first)
        if loose is None or loose.kind != "person" or len(self._full_names_with_first(first)) != 1:
            return
        self.conn.execute(
            """UPDATE item_owners o SET person_id = %(to)s
               WHERE o.tenant_id = %(tenant)s AND o.person_id = %(from)s
                 AND NOT EXISTS (SELECT 1 FROM item_owners x
                                 WHERE x.tenant_id = %(tenant)s AND x.item_id = o.item_id AND x.person_id = %(to)s)""",
            {"to": person.id, "from": loose.id, "tenant": self.tenant},
        )
        self.conn.execute(
            """UPDATE meeting_attendees a SET person_id = %(to)s
               WHERE a.tenant_id = %(tenant)s AND a.person_id = %(from)s
                 AND NOT EXISTS (SELECT 1 FROM meeting_attendees x
                                 WHERE x.tenant_id = %(tenant)s AND x.meeting_id = a.meeting_id
                                   AND x.person_id = %(to)s)""",
            {"to": person.id, "from": loose.id, "tenant": self.tenant},
        )
        self.conn.execute("DELETE FROM people WHERE tenant_id = %s AND id = %s", (self.tenant, loose.id))
        del self.people[first]
        self._add_alias(person, first)
        for alias in loose.aliases:
            self._add_alias(person, alias)
