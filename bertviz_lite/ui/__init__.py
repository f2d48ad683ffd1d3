"""The one library package that talks to Streamlit: shared resources, widgets and layout.

Pages stay thin: they read widgets from here, call one or two `bertviz_lite` functions and
render figures with `plot()`. Widgets whose value belongs in a shareable link are bound to
the URL query string (`bind="query-params"`); their keys are the parameter names.

Modules, by concern (pages use them through this package: `from bertviz_lite import ui`):
resources (cached read-only objects), state (session keys, jobs, safe text), roles (instructor or student; the class poll's
rules), browser_store (cookies: progress kept across reloads), layout (page
frame, presenter mode, plots), navigation (the navigation and links, from the page registry),
widgets (forms), live (the live training view), results (after a run, Compare, reproduction),
inspection (trained models for the inspection pages).
"""

from bertviz_lite.ui.inspection import (
    TUNED_TITLES,
    finetune_config,
    finetune_offer,
    finetuned_model_name,
    model_for,
    model_source,
    tuned_attention,
    tuned_choice,
    tuned_note,
)
from bertviz_lite.ui.layout import (
    PRESENT_PARAM,
    PRESENTER_CSS,
    built_once,
    glossary_links,
    mark_entrypoint,
    page_header,
    plot,
    prediction_view,
    presenter,
    presenter_params,
    show_code,
    sidebar,
    svg_figure,
    theme,
    token_chips,
)
from bertviz_lite.ui.live import (
    ACTIVE,
    curve_charts,
    flow_chart,
    job_status,
    live_record,
    live_view,
    stop_job,
)
from bertviz_lite.ui.navigation import explore_links, navigation
from bertviz_lite.ui.resources import (
    backbone,
    bundled_train_size,
    default_model,
    facts,
    job_pool,
    recorded_runs,
    run_cache_size,
    settings,
    shipped_model,
    tokenizer_lock,
)
from bertviz_lite.ui.results import (
    comparison_records,
    exports,
    reproduce_view,
    results,
    run_origin,
)
from bertviz_lite.ui.roles import (
    classroom,
    credential,
    instructor_token,
    is_instructor,
    take_token,
    token_notes,
)
from bertviz_lite.ui.state import (
    QUERY,
    check_settings,
    clamp_state,
    flash,
    friendly_error,
    interrupted_runs,
    job_state,
    owner_id,
    redact,
    remember_run,
    require_login,
    safe,
    session_id,
    show_flash,
    start_job,
)
from bertviz_lite.ui.widgets import (
    HEAD_LRS,
    LRS,
    UPLOAD_TYPES,
    data_picker,
    example_inputs,
    mode_picker,
    task_picker,
    training_form,
)

__all__ = [
    "ACTIVE", "HEAD_LRS", "LRS", "PRESENT_PARAM", "PRESENTER_CSS", "QUERY", "UPLOAD_TYPES", "backbone",
    "bundled_train_size", "check_settings", "clamp_state", "interrupted_runs", "flash", "owner_id", "show_flash", "default_model", "facts", "finetune_config",
    "finetuned_model_name", "comparison_records", "curve_charts", "data_picker",
    "example_inputs", "explore_links", "exports", "finetune_offer", "tuned_attention",
    "tuned_choice", "tuned_note", "TUNED_TITLES",
    "classroom", "credential", "instructor_token", "take_token", "token_notes",
    "flow_chart", "friendly_error", "glossary_links", "is_instructor", "job_pool", "job_state", "job_status",
    "live_record", "live_view", "mark_entrypoint", "mode_picker", "model_for", "model_source", "navigation",
    "page_header", "plot", "prediction_view", "presenter", "presenter_params", "recorded_runs", "redact",
    "remember_run", "require_login", "reproduce_view", "results", "run_cache_size", "run_origin", "safe",
    "session_id", "settings", "built_once", "shipped_model", "show_code", "sidebar", "svg_figure", "start_job", "stop_job",
    "task_picker", "theme", "token_chips", "tokenizer_lock", "training_form",
]
