"""The training form says once, under the precision choice, that bf16 is emulated on a CPU
without AMX or AVX512-BF16 (and says nothing where bf16 is native or not chosen)."""

from __future__ import annotations

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from bertviz_lite.engine import precision  # noqa: E402
from tests.conftest import REPO, app_settings, page_path  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def app_env(tiny_model_dir, tmp_path_factory):
    home = tmp_path_factory.mktemp("bvhome")
    env = {"BERTVIZ_MODELS": f"tiny={tiny_model_dir}", "BERTVIZ_HOME": str(home),
           "BERTVIZ_CACHE_DIR": str(home / "cache")}
    with app_settings(env):
        yield


def backprop_with(precision_choice: str) -> AppTest:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=90)
    at.run()
    at.switch_page(page_path("backprop")).run()
    at.radio(key="precision").set_value(precision_choice).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def emulation_warnings(at: AppTest) -> list[str]:
    return [w.value for w in at.warning if "emulated" in w.value]


@pytest.mark.parametrize("caps,choice,expected", [
    (precision.Capabilities(), "bf16", 1),  # AVX2 only: say it, once
    (precision.Capabilities(cpu_avx512_bf16=True), "bf16", 0),  # native: nothing to say
    (precision.Capabilities(), "fp32", 0),
])
def test_the_form_says_once_that_bf16_is_emulated(monkeypatch, caps, choice, expected):
    monkeypatch.setattr(precision, "detect_capabilities", lambda device_type: caps)
    warnings = emulation_warnings(backprop_with(choice))
    assert len(warnings) == expected
    if expected:
        assert "Precision auto or fp32" in warnings[0] and "\n" not in warnings[0]
