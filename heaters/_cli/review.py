"""`heaters review`: the review screen without a subcommand, or one decision per call (approve,
skip, archive, merge, group, split, undo) for scripts. Parse, one library call, render."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from heaters._cli.common import MAX_ID, HomeOpt, ImagesOpt, JsonOpt, QuietOpt, library
from heaters.console import out, print_json
from heaters.errors import BadInput
from heaters.library import IMAGE_MODES

review_app = typer.Typer(
    help="Review clips: the TUI without a subcommand, or one action per call for scripts.",
    invoke_without_command=True,
    no_args_is_help=False,
)


@review_app.callback()
def review_main(
    ctx: typer.Context,
    home: HomeOpt = None,
    video: Annotated[
        int | None, typer.Option("--video", min=0, max=MAX_ID, help="Only clips of this video.")
    ] = None,
    images: ImagesOpt = "auto",
) -> None:
    """Open the review TUI (keys: a approve, s skip, d archive, m merge, g group, enter split,
    u undo, ? help).

    Example: [bold]heaters review --video 1[/bold]
    """
    if ctx.invoked_subcommand is not None:
        return
    if images not in IMAGE_MODES:
        raise BadInput(f"unknown --images mode {images!r}")
    if not (sys.stdin.isatty() and sys.stdout.isatty()):  # else it never exits, writing escapes
        raise BadInput(
            "heaters review needs a terminal; in scripts use heaters review approve|skip|archive"
            "|merge|group|split CLIP_ID"
        )
    from heaters.tui.launch import launch

    lib = library(home)
    settings = lib.settings()
    lib.check_review(video)  # a damaged database or an unknown video fails here, in one line
    launch(lib.store, settings, video_id=video, images=images)


def _act(
    action: str,
    clip_id: int,
    home: Any,
    as_json: bool,
    payload: dict[str, Any] | None = None,
    quiet: bool = False,
) -> None:
    lib = library(home)
    grace_s = lib.settings().grace_s  # a bad config.toml is refused before anything is written
    a = lib.act(clip_id, action, payload)
    if as_json:
        print_json(
            {
                "event_id": a.event_id,
                "clip_id": clip_id,
                "action": action,
                "payload": a.payload,
                "replaces": a.replaces,
                "notes": a.notes,
            }  # fmt: skip
        )
    elif not quiet:
        out.print(
            f"event {a.event_id}: {a.description} "
            f"(commits in {grace_s:g}s; undo with heaters review undo)"
        )
        for r in a.replaces:
            out.print(f"  replaces event {r['event_id']} ({r['action']}): it will not apply")
        for note in a.notes:
            out.print(f"  note: {note}")


def _make_action(action: str, doc: str) -> None:
    def command(
        clip_id: Annotated[int, typer.Argument(min=0, max=MAX_ID, help="Clip id.")],
        home: HomeOpt = None,
        as_json: JsonOpt = False,
        quiet: QuietOpt = False,
    ) -> None:
        _act(action, clip_id, home, as_json, quiet=quiet)

    command.__doc__ = doc
    review_app.command(action)(command)


_make_action("approve", "Approve a clip.\n\nExample: [bold]heaters review approve 12[/bold]")
_make_action("skip", "Skip a clip (decide later).\n\nExample: [bold]heaters review skip 12[/bold]")
_make_action("archive", "Archive a clip.\n\nExample: [bold]heaters review archive 12[/bold]")
_make_action(
    "merge",
    "Merge a clip with the previous clip of its video.\n\nExample: [bold]heaters review merge 12[/bold]",
)
_make_action(
    "group",
    "Group a clip with the previous clip (both approved).\n\n"
    "Example: [bold]heaters review group 12[/bold]",
)


@review_app.command("split")
def review_split(
    clip_id: Annotated[int, typer.Argument(min=0, max=MAX_ID, help="Clip id.")],
    frame: Annotated[
        int, typer.Option("--frame", min=0, max=MAX_ID, help="Absolute source frame of the cut.")
    ],
    home: HomeOpt = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Split a clip in two at an absolute source frame.

    Example: [bold]heaters review split 12 --frame 480[/bold]
    """
    _act("split", clip_id, home, as_json, {"frame": frame}, quiet)


@review_app.command("undo")
def review_undo(
    event_id: Annotated[
        int | None, typer.Argument(min=0, max=MAX_ID, help="Event to undo (default: your newest).")
    ] = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Undo a review action, committed or not.

    Example: [bold]heaters review undo[/bold]
    """
    u = library(home).undo(event_id)
    if as_json:
        print_json(
            {
                "event_id": u.event_id,
                "undid": u.undid,
                "action": u.action,
                "clip_id": u.clip_id,
                "restored_clip_ids": u.restored_clip_ids,
                "removed_clip_ids": u.removed_clip_ids,
            }
        )
    elif not quiet:
        out.print(f"undid event {u.undid} ({u.action} clip {u.clip_id})")
