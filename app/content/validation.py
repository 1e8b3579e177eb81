"""Problems in course files, and YAML read with the line of every key and value."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import yaml

# Course slugs and lesson, check, question and option ids: lowercase letters, digits and single hyphens.
ID_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_ID_LENGTH = 100
MAX_TITLE_LENGTH = 200


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong in one file; ``path`` is relative to the courses folder's parent."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


class Problems:
    """Collects the problems of one file."""

    def __init__(self, path: str, into: list[Problem]):
        self.path = path
        self.into = into

    def add(self, line: int, message: str) -> None:
        self.into.append(Problem(self.path, line, message))

    def at(self, node: yaml.Node | None, message: str) -> None:
        self.add(line_of(node), message)


def line_of(node: yaml.Node | None) -> int:
    return node.start_mark.line + 1 if node is not None else 1


def decode(data: bytes, problems: Problems) -> str | None:
    """The file's text, or None (with a problem naming the line) when it is not UTF-8."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        problems.add(line, f"not UTF-8 text (byte 0x{data[error.start]:02x} cannot be read); save the file as UTF-8")
        return None


class YamlDocument:
    """A YAML document kept as nodes, so every value can be traced to its line."""

    def __init__(self, loader: yaml.SafeLoader, root: yaml.Node):
        self.loader = loader
        self.root = root

    def value(self, node: yaml.Node) -> Any:
        return self.loader.construct_object(node, deep=True)


def load_yaml(text: str, problems: Problems) -> YamlDocument | None:
    # libyaml's loader when PyYAML was built with it: several times faster, with the same line marks.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        root = loader.get_single_node()
        if root is None:
            problems.add(1, "the file is empty")
            return None
        loader.construct_document(root)  # surfaces unknown tags and the like now, with their line
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        problems.add(mark.line + 1 if mark else 1, f"invalid YAML: {error.problem or error.context}")
        return None
    except yaml.YAMLError as error:
        problems.add(1, f"invalid YAML: {error}")
        return None
    finally:
        loader.dispose()
    return YamlDocument(loader, root)


class Fields:
    """The keys of one YAML mapping, checked one at a time; every problem is recorded with its line."""

    def __init__(self, doc: YamlDocument, node: yaml.Node, problems: Problems, *, required: list[str],
                 where: str = ""):
        self.doc = doc
        self.node = node
        self.problems = problems
        self.where = where  # e.g. " in question 'q1'"
        self.nodes: dict[str, yaml.Node] = {}
        self.key_nodes: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = str(doc.value(key_node))
            if key in self.nodes:
                problems.at(key_node, f"duplicate key {key!r}{where}")
                continue
            if key not in required:
                problems.at(key_node, f"unknown key {key!r}{where}")
                continue
            self.nodes[key] = value_node
            self.key_nodes[key] = key_node
        for key in required:
            if key not in self.nodes:
                problems.at(node, f"missing key {key!r}{where}")

    def has(self, key: str) -> bool:
        return key in self.nodes

    def line(self, key: str) -> int:
        return line_of(self.nodes.get(key, self.node))

    def fail(self, key: str, message: str) -> None:
        self.problems.at(self.nodes.get(key, self.node), message + self.where)

    def raw(self, key: str) -> Any:
        return self.doc.value(self.nodes[key]) if key in self.nodes else None

    def text(self, key: str, *, max_length: int | None = None) -> str | None:
        if key not in self.nodes:
            return None
        value = self.raw(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            self.fail(key, f"{key} is empty")
            return None
        if not isinstance(value, str):
            self.fail(key, f"{key} must be text")
            return None
        value = value.strip()
        if max_length and len(value) > max_length:
            self.fail(key, f"{key} must be {max_length} characters or fewer")
            return None
        return value

    def identifier(self, key: str, what: str) -> str | None:
        value = self.text(key, max_length=MAX_ID_LENGTH)
        if value is not None and not ID_PATTERN.match(value):
            self.fail(key, f"{what} {value!r} must be lowercase letters, digits and hyphens, like 'some-name'")
            return None
        return value

    def choice(self, key: str, choices: tuple[str, ...]) -> str | None:
        if key not in self.nodes:
            return None
        value = self.raw(key)
        if value not in choices:
            self.fail(key, f"{key} must be {_either(choices)}, not {value!r}")
            return None
        return value

    def boolean(self, key: str) -> bool | None:
        if key not in self.nodes:
            return None
        value = self.raw(key)
        if not isinstance(value, bool):
            self.fail(key, f"{key} must be true or false, not {value!r}")
            return None
        return value

    def hours(self, key: str) -> Decimal | None:
        if key not in self.nodes:
            return None
        value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value or value < 0:
            self.fail(key, f"{key} must be a number of hours, 0 or more, like 4 or 4.5; not {value!r}")
            return None
        hours = Decimal(str(value))
        if hours != hours.quantize(Decimal("0.1")) or hours >= 10000:
            self.fail(key, f"{key} must be under 10000 hours with at most one decimal place; not {value!r}")
            return None
        return hours

    def integer(self, key: str, low: int, high: int) -> int | None:
        if key not in self.nodes:
            return None
        value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.fail(key, f"{key} must be a whole number from {low} to {high}, not {value!r}")
            return None
        return value

    def sequence(self, key: str) -> list[yaml.Node] | None:
        """The items of a non-empty list, as nodes."""
        if key not in self.nodes:
            return None
        node = self.nodes[key]
        if not isinstance(node, yaml.SequenceNode):
            self.fail(key, f"{key} must be a list")
            return None
        if not node.value:
            self.fail(key, f"{key} is empty: give at least one")
            return None
        return list(node.value)

    def text_list(self, key: str) -> list[str] | None:
        items = self.sequence(key)
        if items is None:
            return None
        values = []
        for number, item in enumerate(items, start=1):
            value = self.doc.value(item)
            if not isinstance(value, str) or not value.strip():
                self.problems.at(item, f"{key} item {number} must be text, not {value!r}{self.where}")
                return None
            values.append(value.strip())
        return values

    def mapping(self, key: str) -> yaml.MappingNode | None:
        if key not in self.nodes:
            return None
        node = self.nodes[key]
        if not isinstance(node, yaml.MappingNode):
            self.fail(key, f"{key} must be a set of keys and values")
            return None
        return node


def _either(choices: tuple[str, ...]) -> str:
    return ", ".join(choices[:-1]) + " or " + choices[-1] if len(choices) > 1 else choices[0]
