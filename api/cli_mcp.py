"""`minutebook mcp`: the notes as tools for an AI assistant, over the Model Context Protocol."""

from __future__ import annotations

import os

import typer

from minutebook.api.cli_support import err_console, friendly_errors, settings_from


@friendly_errors
def mcp_cmd() -> None:
    """Serve your notes to AI assistants over the Model Context Protocol (stdio).

    The assistant (Claude Desktop, VS Code, Cursor...) starts this command
    itself: command `minutebook`, argument `mcp`, and in its environment
    MINUTEBOOK_API_KEY, a key from `minutebook keys create --tenant NAME`.
    The tools see that tenant's notes only: search_notes, who_owns,
    list_action_items, ask (cited, through the answer cache), list_meetings
    and get_meeting. Without DATABASE_URL the embedded database is started,
    as for every command. ask uses the LLM that OPENAI_API_KEY or
    OPENAI_BASE_URL configures; without one it answers with the best lines.
    Stdout carries the protocol; messages go to stderr."""
    from minutebook.api.keys import KeyResolver
    from minutebook.api.mcp_server import build_server, key_from, resolve_caller
    from minutebook.api.runtime import open_runtime

    key = key_from(os.environ)  # refused before anything is started
    settings = settings_from()
    with open_runtime(settings) as rt:
        caller = resolve_caller(KeyResolver(rt.pool), key)
        rt.embedder.encode_one("warm up")  # load the model now, not during the assistant's first call
        err_console.print(f"minutebook mcp: serving tenant {caller.tenant()!r} over stdio", highlight=False)
        try:
            build_server(rt, caller).run("stdio")
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
