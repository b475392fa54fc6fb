"""Lab courses as data: the model, our JSON course files, and the legacy CSV layout."""

from courses.files import (
    bundled_catalog,
    bundled_directory,
    load_course_file,
    load_directory,
    parse_course_json,
)
from courses.legacy import COMMON_FEEDBACK_SUBJECTS, load_legacy_directory, read_graph_csv
from courses.loading import load_catalog
from courses.model import Catalog, Course, CourseError, Vertex
from courses.validation import MAX_NODES, course_from_mapping

__all__ = [
    "COMMON_FEEDBACK_SUBJECTS",
    "MAX_NODES",
    "Catalog",
    "Course",
    "CourseError",
    "Vertex",
    "bundled_catalog",
    "bundled_directory",
    "course_from_mapping",
    "load_catalog",
    "load_course_file",
    "load_directory",
    "load_legacy_directory",
    "parse_course_json",
    "read_graph_csv",
]
