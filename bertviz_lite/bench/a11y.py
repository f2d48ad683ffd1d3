"""Accessibility audit of a rendered page with axe-core (the `axe-playwright-python` package
bundles axe-core, so nothing is fetched from the network).

Each violation node is attributed either to this project's content (the page body, its widgets
and charts, our sidebar controls) or to Streamlit's own frame (header, toolbar, page
navigation, the running-man status widget), which the project does not render and cannot fix:
those are reported separately, with their rule id, never hidden.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

# Parts of the page that Streamlit draws around the app's own output.
STREAMLIT_FRAME = ", ".join(f"[data-testid='{t}']" for t in (
    "stHeader", "stToolbar", "stDecoration", "stStatusWidget", "stSidebarNav",
    "stSidebarCollapseButton", "stSidebarHeader", "stMainMenu", "stAppDeployButton",
    "stSidebarCollapsedControl", "stExpandSidebarButton"))
SEVERE = ("critical", "serious")

_OWNER_JS = """([target, frame]) => {
  const el = document.querySelector(target);
  if (!el) return 'unknown';
  return el.closest(frame) ? 'streamlit' : 'ours';
}"""


@dataclass
class Finding:
    """One violated rule on one element."""

    rule: str
    impact: str
    target: str
    owner: str  # "ours" | "streamlit" | "unknown"
    help: str = ""


@dataclass
class Audit:
    """The violations of one page, split by who renders the element."""

    page: str
    findings: list[Finding] = field(default_factory=list)

    def of(self, owner: str, impacts: tuple[str, ...] = SEVERE) -> list[Finding]:
        """Findings of one owner with one of `impacts`."""
        return [f for f in self.findings if f.owner == owner and f.impact in impacts]

    def counts(self) -> dict[str, dict[str, int]]:
        """{owner: {impact: number of violating elements}}."""
        out: dict[str, Counter[str]] = {}
        for f in self.findings:
            out.setdefault(f.owner, Counter())[f.impact] += 1
        return {k: dict(v) for k, v in out.items()}

    def rules(self, owner: str) -> list[str]:
        """Sorted "rule-id (impact)" of one owner, each once."""
        return sorted({f"{f.rule} ({f.impact})" for f in self.findings if f.owner == owner})


def _target(node: dict[str, Any]) -> str:
    """axe's selector of a node (nested lists for iframes / shadow DOM: the innermost)."""
    t = node.get("target") or [""]
    last = t[-1]
    return str(last[-1] if isinstance(last, list) else last)


def audit_page(page: Any, name: str) -> Audit:
    """Run axe-core on a Playwright page and attribute every violating element."""
    from axe_playwright_python.sync_playwright import Axe

    result = Axe().run(page)
    out = Audit(name)
    for v in result.response.get("violations", []):
        for node in v.get("nodes", []):
            target = _target(node)
            owner = page.evaluate(_OWNER_JS, [target, STREAMLIT_FRAME]) if target else "unknown"
            out.findings.append(Finding(v["id"], str(node.get("impact") or v.get("impact")),
                                        target, owner, v.get("help", "")))
    return out
