"""The one error a lesson file can raise: a line naming the file, the step and the field."""


class LessonError(ValueError):
    """A lesson file that cannot be used: one line, naming file, step and field."""
