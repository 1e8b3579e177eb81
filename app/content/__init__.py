"""Courses as files: reading, checking and rendering the course folders in courses/."""

from app.content.reader import CheckFile, CourseFile, CourseTree, LessonFile, QuestionFile, read_courses
from app.content.validation import Problem

__all__ = ["CheckFile", "CourseFile", "CourseTree", "LessonFile", "Problem", "QuestionFile", "read_courses"]
