"""Backfill: after `heaters config model NAME`, every pass also embeds the clips that are already
embedded (by another model) with the configured one, so `similar --model NAME` and text search
cover the whole library, not only clips approved since the change.

No state moves: the clips stay `embedded`, each gains a second vector under the new model's name
(vectors of different models never mix). A clip whose keyframes cannot be read is noted and left
for the next pass; the walk goes by clip id, so one bad clip never stalls the others.
"""

from __future__ import annotations

import numpy as np

from heaters import interrupt
from heaters.domain.results import EmbedRequest
from heaters.domain.text import one_line
from heaters.runner.context import RunContext
from heaters.settings import ConfigError, resolve_model
from heaters.stages import embed
from heaters.store import clips, vectors
from heaters.store.tables import Clip

BATCH = 64


def run_backfill(ctx: RunContext) -> int:
    """Embed already-embedded clips that lack the configured model's vector; returns how many
    were added. Interrupts propagate; any other failure is one note and the pass goes on."""
    try:
        spec = resolve_model(ctx.settings)
    except ConfigError:
        return 0  # the embed step reports a bad model; nothing to add here
    home = ctx.store.home
    added = 0
    after = 0
    while True:
        interrupt.check()
        with ctx.store.tx(write=False) as session:
            ids = vectors.clips_lacking(session, spec.name, BATCH, after)
            requests = [
                EmbedRequest(
                    cid,
                    tuple(home.abs(a.path) for a in clips.artifacts(session, cid, "keyframe")),
                )
                for cid in ids
            ]
        if not ids:
            return added
        after = ids[-1]
        total = sum(len(r.keyframe_paths) for r in requests)
        task = ctx.reporter.task(f"backfill {spec.name}: {len(ids)} clips", total, "images")
        try:
            result = embed.run(requests, spec, on_progress=task.update)
        except interrupt.Interrupted:
            raise
        except Exception as exc:  # a missing or broken model file: say so once, stop here
            ctx.notes.append(f"backfill {spec.name} stopped: {one_line(str(exc))}")
            return added
        finally:
            task.close()
        with ctx.store.tx() as session:
            for item in result.items:
                if item.status != "ok":
                    ctx.notes.append(f"clip {item.clip_id}: backfill {spec.name}: {item.error}")
                    continue
                clip = session.get(Clip, item.clip_id)
                if clip is None or clip.state != "embedded":  # archived or superseded meanwhile
                    continue
                vector = np.asarray(item.vector, dtype=np.float32)
                vectors.put(
                    session, item.clip_id, result.model, result.strategy, vector, list(item.tags)
                )
                added += 1
