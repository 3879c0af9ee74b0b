"""Finding and taking clips out: similar, search, export. Parse, one library call, render (a
thumbnail grid in a terminal, text lines in pipes, or JSON)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from heaters._cli.common import MAX_ID, HomeOpt, ImagesOpt, JsonOpt, QuietOpt, library
from heaters.console import err, out, print_json, reporter
from heaters.errors import BadInput
from heaters.library import IMAGE_MODES, Library

KOpt = Annotated[int, typer.Option("-k", "--k", min=1, max=1000, help="How many results.")]
NoGridOpt = Annotated[
    bool, typer.Option("--no-grid", help="Text lines even in a terminal (as in pipes).")
]


def _check_images(images: str) -> None:
    if images not in IMAGE_MODES:
        raise BadInput(f"unknown --images mode {images!r} (auto, tgp, sixel, halfcell or none)")


def _show_hits(
    lib: Library, rows: list[dict[str, Any]], as_json: bool, images: str, no_grid: bool
) -> None:
    """JSON, text lines (pipes, --no-grid, --images none), or a thumbnail grid in a terminal."""
    if as_json:
        print_json(rows)
        return
    if no_grid or images == "none" or not sys.stdout.isatty():
        _print_hits(rows)
        return
    from heaters.tui.grid import clip_ids, print_grid
    from heaters.tui.images import resolve_mode

    mode = resolve_mode(images)
    if images in ("tgp", "sixel") and mode != images:
        err.print(f"--images {images}: the terminal reports no pixel size; drew half blocks")
    if mode == "none":
        _print_hits(rows)
        return
    thumbs = lib.thumbs(clip_ids(rows))
    if print_grid(out, rows, thumbs, mode) != mode:
        err.print(f"--images {mode}: the terminal could not draw it; drew half blocks")


def _print_hits(rows: list[dict[str, Any]]) -> None:
    if not rows:
        out.print("no results")
    for r in rows:
        tags = ", ".join(t[0] for t in (r["tags"] or [])[:3])
        out.print(
            f"{r['score']:6.1f}%  clip {r['clip_id']:<5} video {r['source_video_id']:<4} "
            f"{r['start_time_s']:.2f}-{r['end_time_s']:.2f}s  {tags}"
        )


def similar_cmd(
    clip_id: Annotated[
        int, typer.Argument(min=0, max=MAX_ID, help="The clip to find neighbours of.")
    ],
    home: HomeOpt = None,
    k: KOpt = 12,
    video: Annotated[
        int | None, typer.Option("--video", min=0, max=MAX_ID, help="Only clips of this video.")
    ] = None,
    model: Annotated[str | None, typer.Option("--model", help="Embedding model.")] = None,
    as_json: JsonOpt = False,
    images: ImagesOpt = "auto",
    no_grid: NoGridOpt = False,
) -> None:
    """Clips most similar to a clip (cosine of their embeddings), never itself nor superseded.

    In a terminal the hits are a grid of thumbnails; pipes, --json and --no-grid get text.

    Example: [bold]heaters similar 12 -k 5[/bold]
    """
    _check_images(images)
    lib = library(home)
    rows = lib.similar(clip_id, k, video, model)
    _show_hits(lib, rows, as_json, images, no_grid)


def search_cmd(
    query: Annotated[str, typer.Argument(help="What to look for, in words (e.g. 'a dog').")],
    home: HomeOpt = None,
    k: KOpt = 12,
    as_json: JsonOpt = False,
    images: ImagesOpt = "auto",
    no_grid: NoGridOpt = False,
) -> None:
    """Text search over the clips' ImageNet label space (objects and animals; not actions,
    colours or people).

    In a terminal the hits are a grid of thumbnails; pipes, --json and --no-grid get text.

    Example: [bold]heaters search "motorbike"[/bold]
    """
    _check_images(images)
    lib = library(home)
    found = lib.search(query, k)
    if not found.classes and not as_json:
        err.print(f"no ImageNet class matches {query!r}: search knows objects and animals")
    elif not as_json:  # say what the query was taken to mean, best-weighted classes first
        more = f" and {len(found.classes) - 6} more" if len(found.classes) > 6 else ""
        err.print(f"classes: {', '.join(found.classes[:6])}{more}")
    _show_hits(lib, found.rows, as_json, images, no_grid)


def export_cmd(
    home: HomeOpt = None,
    state: Annotated[
        str,
        typer.Option("--state", help="approved (any stage since) | embedded | all (live clips)."),
    ] = "approved",
    video: Annotated[
        int | None, typer.Option("--video", min=0, max=MAX_ID, help="Only clips of this video.")
    ] = None,
    group: Annotated[
        bool, typer.Option("--group", help="One file per group of grouped clips.")
    ] = False,
    clip: Annotated[
        list[int] | None,
        typer.Option("--clip", min=0, max=MAX_ID, help="Only this clip (repeat for more)."),
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Output folder (default <home>/exports).")
    ] = None,
    copy: Annotated[
        bool,
        typer.Option(
            "--copy",
            help="Stream copy: fast, but starts on the keyframe at or before the clip "
            "(often seconds early) and may run a few frames past its end.",
        ),
    ] = False,
    template: Annotated[
        str,
        typer.Option(
            "--template", help="File name: {title} {clip_id} {video_id} {start} {end} ..."
        ),
    ] = "{title}_clip{clip_id}_{start}-{end}.mp4",
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Write clips as mp4 files, frame-accurate (libx264 crf 20, AAC); unchanged ones are skipped.

    Example: [bold]heaters export --out ~/clips[/bold]   [bold]heaters export --group --copy[/bold]
    """
    rep = reporter(quiet, as_json)
    lib = library(home)
    with rep:
        done = lib.export(
            state=state, video=video, group=group, clips=clip, out_dir=out_dir, copy=copy,
            template=template, reporter=rep,
        )  # fmt: skip
    if as_json:
        print_json(done.rows)
    elif not quiet:
        for r in done.rows:
            ids = "+".join(map(str, r["clip_ids"]))
            extra = f" ({r['error']})" if r["error"] else (f" ({r['note']})" if r["note"] else "")
            out.print(f"{r['status']:<8} clip {ids}: {r['path']}{extra}")
        if not done.rows:
            out.print(f"nothing to export (no {state} clips)")
    if done.failed:
        raise typer.Exit(1)
