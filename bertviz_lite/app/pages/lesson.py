"""The lesson: predict, observe, explain, one step at a time (progress in the URL)."""

import streamlit as st

from bertviz_lite import ui
from bertviz_lite.ui import lesson as lesson_ui

lesson, store = lesson_ui.lesson_picker()
if lesson is None:
    ui.page_header("Lesson", "The lesson files need fixing: see the messages above."
                   if ui.is_instructor() else "")
    st.stop()
student = bool(st.query_params.get("class")) and not ui.is_instructor()  # the player shows it
first = lesson_ui.step_index(lesson) == 0 and not lesson_ui.stage() and not student
ui.page_header(lesson.title, lesson.intro if first else "")
lesson_ui.stage_frame(hide_title=True)
st.html(lesson_ui.LESSON_CSS)
lesson_ui.run_step(lesson, store)
if not lesson_ui.stage():  # the projector's screen is the step's
    ui.show_code(lesson_ui.run_step)
