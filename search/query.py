"""Runs a parsed REM query against the store; the CLI and the API render what it returns."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from psycopg_pool import ConnectionPool

from minutebook.core.database import tenant_transaction
from minutebook.core.embedder import Embedder
from minutebook.search.hybrid import hybrid_search
from minutebook.search.modes import fuzzy, lookup, traverse
from minutebook.search.owners import match_items
from minutebook.search.query_language import Query, parse_query
from minutebook.search.sql_mode import SqlLimits, run_sql


def run_query(
    pool: ConnectionPool,
    embedder: Embedder,
    source: str | Query,
    *,
    tenant: str,
    sql_limits: SqlLimits | None = None,
) -> dict[str, Any]:
    query = parse_query(source) if isinstance(source, str) else source
    result: dict[str, Any] = {"mode": query.mode, "query": query.text}
    if query.mode == "SQL":
        sql = run_sql(pool, query.text, tenant=tenant, limits=sql_limits)
        result.update(
            columns=sql.columns,
            rows=sql.rows,
            truncated=sql.truncated,
            truncated_reason=sql.truncated_reason,
            notes=sql.notes,
        )
        return result
    with tenant_transaction(pool, tenant) as conn:
        if query.mode == "LOOKUP":
            result["results"] = [asdict(e) for e in lookup(conn, query.text, tenant=tenant)]
        elif query.mode == "FUZZY":
            found = fuzzy(conn, query.text, tenant=tenant, threshold=query.threshold, limit=query.limit)
            result["results"] = [asdict(e) for e in found]
        elif query.mode == "TRAVERSE":
            graph = traverse(conn, query.text, tenant=tenant, depth=query.depth)
            result["nodes"] = [asdict(n) for n in graph.nodes]
            result["edges"] = [{"from": a, "relation": r, "to": b} for a, r, b in graph.edges]
        elif query.mode == "SEARCH":
            embedding = embedder.encode_one(query.text)
            if query.target == "items":
                items = match_items(conn, embedding, query.text, tenant=tenant, k=query.limit)
                result["results"] = [asdict(i) for i in items]
            else:
                hits = hybrid_search(conn, embedding, query.text, tenant=tenant, k=query.limit)
                result["results"] = [asdict(h) for h in hits]
    return result
