"""`minutebook reembed`: move the stored vectors to this configuration's model and runtime."""

from __future__ import annotations

import typer

from minutebook.api.cli_support import console, friendly_errors, print_json, progress_bar, settings_from


@friendly_errors
def reembed_cmd(
    batch: int = typer.Option(256, "--batch", min=1, max=10_000, help="Vectors per transaction."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON report."),
) -> None:
    """Re-embed every stored passage and item with the configured model and runtime
    (MINUTEBOOK_EMBED_MODEL, MINUTEBOOK_EMBED_RUNTIME). Runs in batches and can be stopped and
    run again: it resumes where it stopped. Cached answers are dropped (their question vectors
    are of the old kind); searching waits until it is done. Needs a database role that sees every
    tenant (the embedded server's owner does)."""
    from minutebook.api.runtime import make_embedder
    from minutebook.core.database import connect, resolve_database_url
    from minutebook.core.embedding_identity import recorded, reembed, vectors_to_do
    from minutebook.core.migrations import migrate

    settings = settings_from()
    url = resolve_database_url(settings)
    migrate(url)
    embedder = make_embedder(settings)
    target = embedder.identity
    with connect(url, autocommit=True) as conn:
        stored, under_way = recorded(conn)
        if stored == target and under_way is None:
            if json_out:
                print_json({"target": target, "chunks": 0, "items": 0})
            else:
                console.print(f"the stored vectors are already {target}: nothing to do", highlight=False)
            return
        total = vectors_to_do(conn, target)
        with progress_bar(quiet=json_out) as progress:
            task = progress.add_task("re-embedding", total=total)
            report = reembed(
                conn, embedder.encode, target, default_tenant=settings.tenant, batch=batch,
                on_batch=lambda n: progress.advance(task, n),
            )  # fmt: skip
    if json_out:
        print_json(report.__dict__)
        return
    console.print(
        f"re-embedded {report.chunks:,} passages and {report.items:,} items of {report.tenants} tenant(s) "
        f"from {report.source or 'unknown'} to {report.target}; dropped {report.cache_entries_dropped} cached "
        "answers",
        highlight=False,
    )
