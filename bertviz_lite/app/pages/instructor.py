"""Instructor: the class (join link and QR code, who joined, the current step, the class's
answers of each step), then the server's workers, queue, cache and settings."""

import streamlit as st

from bertviz_lite import ui
from bertviz_lite.ui import lesson as lesson_ui
from bertviz_lite.ui import lesson_poll
from bertviz_lite.ui.server import server_status

ui.page_header("Instructor: the class", "Start a class, show the join link, watch the answers.")
if not ui.is_instructor():
    st.warning("This page is for the instructor: open the instructor's link (printed when the "
               "server started, /instructor?token=...).")
    st.stop()

files, store = lesson_ui.lessons()
usable = [f.lesson for f in files if f.lesson is not None]
code = lesson_poll.class_code()
if err := st.session_state.pop("lesson_poll_error", None):
    st.warning(ui.safe(err))
if not usable:
    st.info("No usable lesson in assets/lessons/.")
elif code is None:
    lesson = usable[0]
    st.button("Start a class session", key="class_start", type="primary",
              on_click=lesson_poll.start_class,
              args=(lesson.id, lesson.steps[0].id, tuple(s.id for s in lesson.steps)))
    st.caption(f"Lesson: {ui.safe(lesson.title)}. Students open the join link (or scan the QR "
               "code) and follow your steps; their predictions stay anonymous.")
else:
    lesson_poll.class_page(code, usable, store)

# folded below the class while one runs; open when there is no class to show
with st.expander("The server: workers, queue, cache and settings", expanded=code is None):
    server_status()
