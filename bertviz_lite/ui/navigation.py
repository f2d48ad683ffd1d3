"""The app's navigation and the start page's links, both built from the page registry
(`bertviz_lite.app.registry`): a page is added there, never here."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st
from streamlit.navigation.page import StreamlitPage

from bertviz_lite.app import registry
from bertviz_lite.ui.layout import presenter_params

EXPLORE_COLUMNS = 4  # links per row on the start page


def _st_page(page: registry.Page) -> StreamlitPage:
    """The st.Page of a registry entry."""
    return st.Page(page.script, title=page.title, url_path=page.url_path, icon=page.icon or None,
                   default=page.default, visibility=page.visibility)


def _alias(target: StreamlitPage, url_path: str) -> Callable[[], None]:
    """A page function that opens `target` (an address that is another page's, e.g. /home)."""
    def alias() -> None:
        st.switch_page(target)

    alias.__name__ = f"alias_{url_path}"
    return alias


def navigation() -> StreamlitPage:
    """st.navigation over every registered page, plus the hidden aliases (/home); returns the
    page to run."""
    built = {p.name: _st_page(p) for p in registry.pages()}
    aliases = [st.Page(_alias(built[name], url), title=url.capitalize(), url_path=url,
                       visibility="hidden")
               for url, name in registry.ALIASES.items()]
    return st.navigation([*built.values(), *aliases])


def explore_links() -> None:
    """The start page's rows of links to the pages marked `explore` (presenter mode kept)."""
    targets = registry.explore_pages()
    for start in range(0, len(targets), EXPLORE_COLUMNS):
        row = targets[start:start + EXPLORE_COLUMNS]
        for col, page in zip(st.columns(EXPLORE_COLUMNS), row):
            col.page_link(str(page.script), label=page.link_label, icon=page.icon or None,
                          width="stretch", query_params=presenter_params())


def page_link_target(url_path: str) -> str:
    """The script path st.page_link takes for the page at `/url_path`."""
    return str(registry.by_url(url_path).script)
