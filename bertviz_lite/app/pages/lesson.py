"""The lesson: predict, observe, explain, one step at a time (progress in the URL)."""

import streamlit as st

from bertviz_lite import ui
from bertviz_lite.ui import lesson as ul

lesson, store = ul.lesson_picker()
if lesson is None:
    ui.page_header("Lesson", "The lesson files need fixing: see the messages above.")
    st.stop()
first = ul.step_index(lesson) == 0 and not ul.stage()
ui.page_header(lesson.title, lesson.intro if first else "")
ul.stage_frame(hide_title=True)
st.html(ul.LESSON_CSS)
ul.run_step(lesson, store)
ui.show_code(ul.run_step)
