"""`python -m bertviz_lite.app.run SCRIPT [streamlit run options]`: `streamlit run`, with the
libraries every page needs imported when the server starts, not in the first visitor's script
run.

Why: a script run imports what its page needs the first time any session runs it. pandas alone
takes about 2 s to import on a 2-core AMD EPYC (AVX2), and a py-spy profile of a fresh
server's first visit found its script thread in that import most of the time (the first visit
took 4.0 s, a second session's start page 1.9 s). Only third-party libraries are imported
here: the app's own modules decorate functions with `st.cache_data`, which must see the
running server (imported before it starts they would fall back to a cache of their own).

Every way the app starts goes through here: scripts/app.sh, `bertviz-lite app`
(`launch.command`), deploy/class-server.sh, the Dockerfile, and `AppServer` (the tests' and the
benchmark's server).
"""

from __future__ import annotations

import importlib
import logging
import sys
import time
from collections.abc import Sequence

log = logging.getLogger(__name__)

# pandas first: imported lazily by two threads at once (plotly's validators in a script run,
# Streamlit's serialisation in another), one saw it half-initialised (bertviz_lite/app/main.py)
PRELOAD = ("pandas", "numpy", "plotly.graph_objects", "plotly.io")


def preload(names: Sequence[str] = PRELOAD) -> float:
    """Import `names` now (in the server's main thread, before any session); the seconds it
    took."""
    t0 = time.perf_counter()
    for name in names:
        importlib.import_module(name)
    return time.perf_counter() - t0


def streamlit_argv(args: Sequence[str]) -> list[str]:
    """The argv `streamlit run` sees: `streamlit run` and then `args` as given."""
    return ["streamlit", "run", *args]


def main(argv: Sequence[str] | None = None) -> None:
    """Preload, then run `streamlit run` with the arguments in this process (it exits)."""
    args = list(sys.argv[1:] if argv is None else argv)
    seconds = preload()
    log.debug("preloaded %s in %.1f s", ", ".join(PRELOAD), seconds)
    from streamlit.web import cli

    sys.argv = streamlit_argv(args)
    cli.main(prog_name="streamlit")


if __name__ == "__main__":
    main()
