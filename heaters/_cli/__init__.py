"""The command line, by command group: `pipeline` (ingest, run, retry, resplice, demo),
`inspect` (status, videos, clips, events, scenes, show), `review`, `find` (similar, search,
export) and `admin` (gc, config, doctor, follows, unfollow, rm); `app` assembles them. A new
command goes in its group's module, as parse -> one `heaters.library.Library` call -> render.
Private: the public surfaces are the `heaters` command and `heaters.library`."""
