"""Several API nodes on one database: a tenant's requests in flight are one count, not one per
process (sql/026, api/fairness.py `SharedTenantSlots`), and a killed node's slots come back."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg_pool import ConnectionPool
from serve_nodes import Node, serve_nodes
from test_cli import clean_env

from minutebook.api.fairness import SharedTenantSlots
from minutebook.api.keys import create_key
from minutebook.api.problems import ApiProblem
from minutebook.core.database import open_app_pool

LIMIT = 2  # requests in flight per tenant, and SQL statements, on every node together
LONG = 3600.0  # seconds: a lease that cannot lapse during a test
GENEROUS = 180.0  # seconds to wait for an event that comes once the code works
BLOCKED_SQL = "SQL SELECT count(*) FROM cache_rejections"  # waits while the test locks the table


def wait_for(event: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + GENEROUS
    while not event():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.1)


def leases(pg_url: str, tenant: str, scope: str = "requests") -> list[tuple[str, bool]]:
    """(holder, live) of the tenant's leases in `scope`, read as the owner."""
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute(
            "SELECT holder, until > clock_timestamp() FROM tenant_slots WHERE scope = %s AND tenant_id = %s",
            (scope, tenant),
        ).fetchall()
    return [(holder, live) for holder, live in rows]


def take(conn: psycopg.Connection, tenant: str, limit: int | None, *, lease: float = LONG) -> int | None:
    row = conn.execute(
        "SELECT minutebook_take_slot('requests', %s, %s, 'test:1', %s)", (tenant, limit, lease)
    ).fetchone()
    return row[0] if row else None


@pytest.fixture
def second_node(pg_url: str) -> Iterator[ConnectionPool]:
    """The pool of another API node: its own connections to the same database."""
    pool = open_app_pool(pg_url, min_size=1, max_size=4)
    yield pool
    pool.close()


# -- the SQL functions ------------------------------------------------------------------------------


def test_slots_are_taken_up_to_the_limit_and_given_back(pool: ConnectionPool, tenant: str) -> None:
    other = f"{tenant}-other"
    with pool.connection() as conn:
        first, second = take(conn, tenant, 2), take(conn, tenant, 2)
        assert first is not None and second is not None
        assert take(conn, tenant, 2) is None  # the third waits
        assert take(conn, other, 2) is not None  # another tenant has slots of its own
        sql = conn.execute("SELECT minutebook_take_slot('sql', %s, 2, 'test:1', %s)", (tenant, LONG)).fetchone()
        assert sql is not None and sql[0] is not None  # and so has another scope
        assert take(conn, tenant, None) is not None  # past the limit, for work that outlives its request
        assert conn.execute("SELECT minutebook_give_slot(%s)", (first,)).fetchone() == (True,)
        assert conn.execute("SELECT minutebook_give_slot(%s)", (first,)).fetchone() == (False,)  # once
        assert take(conn, tenant, 3) is not None  # one given back: one free again (2 + the held one)
        assert take(conn, tenant, 3) is None


def test_a_lapsed_lease_frees_its_slot_and_is_not_renewed(pool: ConnectionPool, tenant: str) -> None:
    with pool.connection() as conn:
        lapsed = take(conn, tenant, 1, lease=0)  # a node that took it and was never heard of again
        live = take(conn, f"{tenant}-other", 1)
        assert lapsed is not None and live is not None
        renewed = conn.execute("SELECT minutebook_renew_slots(%s, %s)", ([lapsed, live], LONG)).fetchone()
        assert renewed == (1,)  # only the live one
        assert take(conn, tenant, 1) is not None  # the lapsed slot came back
        assert take(conn, tenant, 1) is None
        assert conn.execute("SELECT minutebook_give_slot(%s)", (lapsed,)).fetchone() == (False,)


def test_the_app_only_calls_the_functions_and_sql_mode_not_even_those(pool: ConnectionPool, pg_url: str) -> None:
    with pool.connection() as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("SELECT * FROM tenant_slots")
    with psycopg.connect(pg_url) as conn:
        conn.execute("SET ROLE minutebook_reader")
        for call in (
            "SELECT minutebook_take_slot('requests', 'victim', 1, 'x', 60)",
            "SELECT minutebook_give_slot(1)",
            "SELECT minutebook_renew_slots('{1}', 60)",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(call)
            conn.rollback()
            conn.execute("SET ROLE minutebook_reader")


def test_two_nodes_racing_for_the_last_slots_get_exactly_the_limit(
    pool: ConnectionPool, second_node: ConnectionPool, tenant: str
) -> None:
    nodes = [SharedTenantSlots(p, 3, scope="requests", lease=LONG) for p in (pool, second_node)]
    start = threading.Barrier(12)
    got: list[bool] = []

    def one(i: int) -> None:
        start.wait()
        got.append(nodes[i % 2].try_take(tenant))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == [False] * 9 + [True] * 3
    assert nodes[0].in_flight(tenant) + nodes[1].in_flight(tenant) == 3


# -- SharedTenantSlots --------------------------------------------------------------------------------


def test_sql_statements_are_refused_at_once_across_nodes(
    pool: ConnectionPool, second_node: ConnectionPool, pg_url: str, tenant: str
) -> None:
    a, b = (SharedTenantSlots(p, 1, scope="sql") for p in (pool, second_node))
    with a.at_once(tenant, "SQL statements"):
        with pytest.raises(ApiProblem) as refused, b.at_once(tenant, "SQL statements"):
            pass
        assert refused.value.status == 429
        with b.at_once(f"{tenant}-other", "SQL statements"):
            pass
    assert leases(pg_url, tenant, "sql") == []
    with b.at_once(tenant, "SQL statements"):  # given back: the other node may run one now
        assert a.in_flight(tenant) == 0 and b.in_flight(tenant) == 1


@pytest.mark.parametrize("request_first", [False, True], ids=["held-then-request-ends", "request-ends-then-held"])
def test_a_held_answer_keeps_counting_until_its_work_ends(
    pool: ConnectionPool, pg_url: str, tenant: str, request_first: bool
) -> None:
    """A streamed answer whose client left: `hold` (the stream ends), the request's own give-back
    (its dependency exits), then the answer's thread ends and gives back; either order of the first two."""
    slots = SharedTenantSlots(pool, 1, scope="requests")
    assert slots.try_take(tenant)
    if request_first:
        slots.give_back(tenant)
        slots.hold(tenant)
    else:
        slots.hold(tenant)
        slots.give_back(tenant)
    assert [live for _, live in leases(pg_url, tenant)] == [True]  # the work still counts
    assert not slots.try_take(tenant)
    slots.give_back(tenant)  # the answer's thread ends
    assert leases(pg_url, tenant) == [] and slots.in_flight(tenant) == 0
    assert slots.try_take(tenant)
    slots.give_back(tenant)


def test_a_long_held_slot_is_renewed_and_the_renewer_stops_when_none_are_held(
    pool: ConnectionPool, pg_url: str, tenant: str
) -> None:
    slots = SharedTenantSlots(pool, 1, scope="requests", lease=15.0)  # renewed every 5 s

    def until() -> object:
        with psycopg.connect(pg_url) as conn:
            row = conn.execute("SELECT until FROM tenant_slots WHERE tenant_id = %s", (tenant,)).fetchone()
        return row[0] if row else None

    assert slots.try_take(tenant)
    first = until()
    wait_for(lambda: until() != first, "the held lease renewed")
    slots.give_back(tenant)
    wait_for(lambda: slots._renewer is None, "the renewing thread ending with nothing to renew")


def test_without_the_database_a_node_counts_on_its_own(tenant: str, pg_url: str) -> None:
    broken = open_app_pool(pg_url, min_size=0, max_size=1)
    broken.close()  # every checkout fails
    slots = SharedTenantSlots(broken, 1, scope="requests")
    assert slots.try_take(tenant)
    assert not slots.try_take(tenant)  # the node's own limit still holds
    slots.give_back(tenant)
    assert slots.try_take(tenant)


# -- two serve processes ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_nodes(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Node]]:
    home: Path = tmp_path_factory.mktemp("slots") / "home"
    env = clean_env(
        DATABASE_URL=pg_url, MINUTEBOOK_HOME=str(home), MINUTEBOOK_TENANT_MAX_CONCURRENT=str(LIMIT),
        MINUTEBOOK_SQL_MAX_CONCURRENT=str(LIMIT), MINUTEBOOK_SQL_TIMEOUT_MS="600000",
        MINUTEBOOK_RATE_PER_SECOND="1000", MINUTEBOOK_RATE_BURST="1000",
    )  # fmt: skip
    with serve_nodes(env) as nodes:
        yield nodes


def bearer(pg_url: str, tenant: str) -> dict[str, str]:
    with psycopg.connect(pg_url) as conn:
        return {"Authorization": f"Bearer {create_key(conn, tenant, 'two nodes')[1]}"}


class LockedTable:
    """SQL-mode statements reading cache_rejections wait until the test lets them go: requests that
    stay in flight for as long as the test needs, however fast or slow the machine."""

    def __init__(self, pg_url: str) -> None:
        self.conn = psycopg.connect(pg_url)
        self.conn.execute("LOCK TABLE cache_rejections IN ACCESS EXCLUSIVE MODE")

    def release(self) -> None:
        if not self.conn.closed:
            self.conn.commit()
            self.conn.close()


def blocked(url: str, headers: dict[str, str], statuses: list[int]) -> threading.Thread:
    def run() -> None:
        try:
            statuses.append(httpx.post(f"{url}/v1/query", json={"query": BLOCKED_SQL}, headers=headers,
                                       timeout=GENEROUS * 3).status_code)  # fmt: skip
        except httpx.HTTPError:
            statuses.append(0)  # its node was killed

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_two_api_processes_hold_a_tenant_to_one_concurrency_limit(pg_url: str, two_nodes: list[Node]) -> None:
    tenant = f"slots{uuid.uuid4().hex[:8]}"
    mine, theirs = bearer(pg_url, tenant), bearer(pg_url, f"{tenant}-other")
    lock = LockedTable(pg_url)
    statuses: list[int] = []
    try:
        blockers = [blocked(node.url, mine, statuses) for node in two_nodes]  # one in flight on each node
        wait_for(lambda: len({holder for holder, _ in leases(pg_url, tenant)}) == LIMIT, "one slot held on each node")
        # each node holds one of the tenant's two: a third waits its turn (30 s), then 429
        third = httpx.get(f"{two_nodes[0].url}/v1/meetings", headers=mine, timeout=GENEROUS)
        assert third.status_code == 429, third.text
        assert f"{LIMIT} requests in flight" in third.json()["detail"]
        assert len(leases(pg_url, tenant)) == LIMIT
        other = httpx.get(f"{two_nodes[1].url}/v1/meetings", headers=theirs, timeout=GENEROUS)
        assert other.status_code == 200  # another tenant is not held back
    finally:
        lock.release()
    for t in blockers:
        t.join()
    assert statuses == [200, 200]
    wait_for(lambda: leases(pg_url, tenant) == [], "both slots given back")
    assert httpx.get(f"{two_nodes[0].url}/v1/meetings", headers=mine, timeout=GENEROUS).status_code == 200


def test_a_killed_processs_slot_comes_back_after_its_lease(pg_url: str, two_nodes: list[Node]) -> None:
    """Runs last: it kills one of the module's two nodes."""
    tenant = f"slots{uuid.uuid4().hex[:8]}"
    mine = bearer(pg_url, tenant)
    survivor, victim = two_nodes
    victims = f":{victim.process.pid}"
    lock = LockedTable(pg_url)
    statuses: list[int] = []
    try:
        blockers = [blocked(node.url, mine, statuses) for node in two_nodes]
        wait_for(lambda: len(leases(pg_url, tenant)) == LIMIT, "the tenant's two slots held")
        victim.process.kill()  # kill -9: it gives nothing back
        victim.process.wait()
        wait_for(
            lambda: all(not live for holder, live in leases(pg_url, tenant) if holder.endswith(victims)),
            "the killed node's lease lapsing",
        )
        # the survivor still runs one; the dead node's slot is free again
        assert httpx.get(f"{survivor.url}/v1/meetings", headers=mine, timeout=GENEROUS).status_code == 200
    finally:
        lock.release()
    for t in blockers:
        t.join()
    assert sorted(statuses) == [0, 200]
