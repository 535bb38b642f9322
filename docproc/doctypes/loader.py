"""Document types from YAML: parsed, checked and turned into frozen ``DocType`` objects.

Every mistake in a file is a ``DocTypeError`` that names the file and the line, so that a
service refusing to start says where to look. Unknown keys are mistakes too: a misspelt
``treshold`` would otherwise be a default silently applied.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import fields as dataclass_fields
from pathlib import Path
from typing import Any, cast

import yaml

from .schema import (
    CHECK_KINDS,
    FIELD_TYPES,
    VALIDATOR_NAMES,
    Check,
    DocType,
    FieldSpec,
    ItemsSum,
    NotAfter,
    OcrSettings,
    Vocabulary,
)

SHIPPED_DIR = Path(__file__).resolve().parent
TEMPLATE_DIR = SHIPPED_DIR / "templates"
NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
DOCTYPE_KEYS = ("name", "title", "description", "date_order", "charset", "ocr", "template", "prompt_version", "words",
                "fields", "checks")
FIELD_KEYS = ("name", "type", "description", "labels", "threshold", "required", "prompt_hint", "validators",
              "memory", "position", "answer", "snap", "fields")
WORD_KEYS = tuple(f.name for f in dataclass_fields(Vocabulary))
OCR_KEYS = tuple(f.name for f in dataclass_fields(OcrSettings))


class DocTypeError(ValueError):
    """A document type file that cannot be used; ``str()`` is ``FILE:LINE: what is wrong``."""

    def __init__(self, path: Path | str, line: int | None, message: str) -> None:
        self.path, self.line, self.message = str(path), line, message
        super().__init__(f"{path}:{line}: {message}" if line else f"{path}: {message}")


class _Node:
    """A YAML value with the line it starts on (1-based)."""

    __slots__ = ("line", "value")

    def __init__(self, value: Any, line: int) -> None:
        self.value, self.line = value, line


def _plain(node: yaml.Node, loader: yaml.SafeLoader) -> _Node:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[str, _Node] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node)
            out[str(key)] = _plain(value_node, loader)
        return _Node(out, line)
    if isinstance(node, yaml.SequenceNode):
        return _Node([_plain(item, loader) for item in node.value], line)
    return _Node(loader.construct_object(node), line)


def _parse(text: str, path: Path) -> _Node:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise DocTypeError(path, 1, "the file is empty")
        return _plain(node, loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise DocTypeError(path, mark.line + 1 if mark else None, f"not valid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise DocTypeError(path, None, f"not valid YAML: {exc}") from None
    finally:
        loader.dispose()


class _Reader:
    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, node: _Node, message: str) -> DocTypeError:
        return DocTypeError(self.path, node.line, message)

    def mapping(self, node: _Node, what: str, allowed: Iterable[str]) -> dict[str, _Node]:
        if not isinstance(node.value, dict):
            raise self.fail(node, f"{what} must be a mapping of keys to values")
        allowed = tuple(allowed)
        for key, value in node.value.items():
            if key not in allowed:
                raise self.fail(value, f"unknown key {key!r} in {what}; known keys: {', '.join(allowed)}")
        return node.value

    def text(self, data: dict[str, _Node], key: str, what: str, default: str | None = None) -> str:
        if key not in data:
            if default is None:
                line = min((n.line for n in data.values()), default=None)
                raise DocTypeError(self.path, line, f"{what} has no {key!r}")
            return default
        value = data[key].value
        if not isinstance(value, str) or (default is None and not value.strip()):
            raise self.fail(data[key], f"{what}: {key!r} must be text")
        return value

    def choice(self, data: dict[str, _Node], key: str, what: str, options: tuple[str, ...], default: str) -> str:
        value = self.text(data, key, what, default)
        if value not in options:
            raise self.fail(data[key], f"{what}: {key!r} must be one of {', '.join(options)}, not {value!r}")
        return value

    def flag(self, data: dict[str, _Node], key: str, what: str, default: bool) -> bool:
        if key not in data:
            return default
        if not isinstance(data[key].value, bool):
            raise self.fail(data[key], f"{what}: {key!r} must be true or false")
        return cast(bool, data[key].value)

    def strings(self, data: dict[str, _Node], key: str, what: str) -> tuple[str, ...]:
        if key not in data:
            return ()
        node = data[key]
        if not isinstance(node.value, list) or not all(isinstance(i.value, str) and i.value.strip() for i in node.value):
            raise self.fail(node, f"{what}: {key!r} must be a list of text")
        return tuple(i.value for i in node.value)


def _field(r: _Reader, node: _Node, where: str, *, in_list: bool) -> FieldSpec:
    data = r.mapping(node, where, FIELD_KEYS)
    name = r.text(data, "name", where)
    if not NAME.match(name):
        raise r.fail(data["name"], f"{where}: field name {name!r} must be lower case letters, digits and _ "
                                   "(it is a key of the API's result)")
    what = f"field {name!r}"
    if "type" not in data:
        raise r.fail(data["name"], f"{what} has no 'type'; one of {', '.join(FIELD_TYPES)}")
    kind = r.choice(data, "type", what, FIELD_TYPES, "text")
    if in_list and kind == "list":
        raise r.fail(data["type"], f"{what}: a list's items cannot hold another list")
    threshold = 0.9
    if "threshold" in data:
        value = data["threshold"].value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise r.fail(data["threshold"], f"{what}: 'threshold' must be a number from 0 to 1 (1 sends every value "
                                            "to a person)")
        threshold = float(value)
    validators = r.strings(data, "validators", what)
    for i, v in enumerate(validators):
        if v not in VALIDATOR_NAMES:
            raise r.fail(data["validators"].value[i], f"{what}: unknown validator {v!r}; known: "
                                                      f"{', '.join(VALIDATOR_NAMES)}")
    items: tuple[FieldSpec, ...] = ()
    if kind == "list":
        if "fields" not in data or not isinstance(data["fields"].value, list) or not data["fields"].value:
            raise r.fail(data.get("fields", data["type"]), f"{what}: a list field needs 'fields', the item's own fields")
        items = tuple(_field(r, item, f"item field of {name!r}", in_list=True) for item in data["fields"].value)
        _unique(r, items, data["fields"].value, f"items of {name!r}")
    elif "fields" in data:
        raise r.fail(data["fields"], f"{what}: only a field of type list has 'fields'")
    answer = r.choice(data, "answer", what, ("text", "lines"), "text")
    if answer == "lines" and (kind not in ("text", "name", "address") or in_list):
        shown = "a list item" if in_list else f"a {kind} field"
        raise r.fail(data["answer"], f"{what}: 'answer: lines' is for text, name and address fields printed as "
                                     f"whole lines, not for {shown}")
    return FieldSpec(
        name=name,
        type=kind,  # type: ignore[arg-type]
        required=r.flag(data, "required", what, True),
        validators=validators,
        review_threshold=threshold,
        labels=r.strings(data, "labels", what),
        description=r.text(data, "description", what, ""),
        prompt_hint=r.text(data, "prompt_hint", what, ""),
        memory=r.choice(data, "memory", what, ("sender", "none"), "none"),  # type: ignore[arg-type]
        position=r.choice(data, "position", what, ("any", "top"), "any"),  # type: ignore[arg-type]
        answer=answer,  # type: ignore[arg-type]
        snap=r.choice(data, "snap", what, ("lines", "words"), "lines"),  # type: ignore[arg-type]
        item_fields=items,
    )


def _unique(r: _Reader, specs: tuple[FieldSpec, ...], nodes: list[_Node], where: str) -> None:
    seen: set[str] = set()
    for spec, node in zip(specs, nodes, strict=True):
        if spec.name in seen:
            raise r.fail(node, f"{where}: field {spec.name!r} is defined twice")
        seen.add(spec.name)


def _check(r: _Reader, node: _Node, fields: dict[str, FieldSpec]) -> Check:
    data = r.mapping(node, "a check", ("check", *sorted({k for keys in CHECK_KINDS.values() for k in keys})))
    if "check" not in data:
        raise r.fail(node, f"a check needs 'check', one of {', '.join(CHECK_KINDS)}")
    kind = r.choice(data, "check", "a check", tuple(CHECK_KINDS), "")
    what = f"check {kind!r}"
    wanted = CHECK_KINDS[kind]
    for key, value in data.items():
        if key != "check" and key not in wanted:
            raise r.fail(value, f"{what} takes {', '.join(wanted)}, not {key!r}")
    args = {key: r.text(data, key, what) for key in wanted}

    def named(key: str, kinds: tuple[str, ...]) -> FieldSpec:
        spec = fields.get(args[key])
        if spec is None:
            raise r.fail(data[key], f"{what}: {key} {args[key]!r} is not a field of this type")
        if spec.type not in kinds:
            raise r.fail(data[key], f"{what}: {key} {args[key]!r} is a {spec.type} field, not {' or '.join(kinds)}")
        return spec

    if kind == "items_sum":
        items = named("items", ("list",))
        if not any(s.name == args["item"] and s.type == "amount" for s in items.item_fields):
            raise r.fail(data["item"], f"{what}: item {args['item']!r} is not an amount field of {items.name!r}'s items")
        named("total", ("amount",))
        return ItemsSum(items=args["items"], item=args["item"], total=args["total"])
    named("earlier", ("date",))
    named("later", ("date",))
    return NotAfter(earlier=args["earlier"], later=args["later"])


def _words(r: _Reader, node: _Node) -> Vocabulary:
    data = r.mapping(node, "words", WORD_KEYS)
    given = {key: tuple(w.lower() for w in r.strings(data, key, "words")) for key in data}
    return Vocabulary(**given)


def parse_doctype(text: str, path: Path | str = "<text>") -> DocType:
    """The document type in ``text`` (YAML); ``path`` is only named in errors."""
    path = Path(path)
    root = _parse(text, path)
    r = _Reader(path)
    data = r.mapping(root, "a document type", DOCTYPE_KEYS)
    if "name" not in data:
        raise r.fail(root, "a document type needs a 'name'")
    name = r.text(data, "name", "the document type")
    if not NAME.match(name):
        raise r.fail(data["name"], f"name {name!r} must be lower case letters, digits and _, at most 40 "
                                   "(clients send it as doc_type)")
    if "fields" not in data or not isinstance(data["fields"].value, list) or not data["fields"].value:
        raise r.fail(data.get("fields", data["name"]), f"document type {name!r} needs 'fields', a list of at least one")
    fields = tuple(_field(r, node, "a field", in_list=False) for node in data["fields"].value)
    _unique(r, fields, data["fields"].value, f"document type {name!r}")
    by_name = {f.name: f for f in fields}
    checks: tuple[Check, ...] = ()
    if "checks" in data:
        if not isinstance(data["checks"].value, list):
            raise r.fail(data["checks"], "'checks' must be a list")
        checks = tuple(_check(r, node, by_name) for node in data["checks"].value)
    template = r.text(data, "template", "the document type", "")
    if template and not (TEMPLATE_DIR / f"{template}.json").is_file():
        raise r.fail(data["template"], f"no form template {template!r}: make one with `manage.py form_template` "
                                       f"(it writes docproc/doctypes/templates/{template}.json)")
    prompt_version = data["prompt_version"].value if "prompt_version" in data else ""
    if not isinstance(prompt_version, (str, int)) or isinstance(prompt_version, bool):
        raise r.fail(data["prompt_version"], "'prompt_version' must be text or a number")
    return DocType(
        name=name,
        title=r.text(data, "title", "the document type", name.replace("_", " ").capitalize()),
        description=r.text(data, "description", "the document type", ""),
        date_order=r.choice(data, "date_order", "the document type", ("day_first", "month_first", "auto"),  # type: ignore[arg-type]
                            "month_first"),
        charset=r.choice(data, "charset", "the document type", ("latin", "ascii", "all"), "all"),  # type: ignore[arg-type]
        ocr=_ocr(r, data["ocr"]) if "ocr" in data else OcrSettings(),
        template=template,
        prompt_version=str(prompt_version),
        words=_words(r, data["words"]) if "words" in data else Vocabulary(),
        fields=fields,
        checks=checks,
        source=str(path),
    )


def _ocr(r: _Reader, node: _Node) -> OcrSettings:
    data = r.mapping(node, "'ocr'", OCR_KEYS)
    values: dict[str, float | int] = {}
    for key in ("unclip_ratio", "box_thresh", "thresh"):
        if key not in data:
            continue
        value = data[key].value
        low_open = key != "unclip_ratio"
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                0 < value < 1 if low_open else 0 < value <= 10):
            bounds = "a number between 0 and 1 (both excluded)" if low_open else "a number above 0, at most 10"
            raise r.fail(data[key], f"'ocr': {key!r} must be {bounds}")
        values[key] = float(value)
    if "max_side_len" in data:
        value = data["max_side_len"].value
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise r.fail(data["max_side_len"], "'ocr': 'max_side_len' must be a whole number of pixels, 0 for no "
                                               "shrinking")
        values["max_side_len"] = value
    return OcrSettings(**values)  # type: ignore[arg-type]


def load_file(path: Path) -> DocType:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DocTypeError(path, None, f"cannot be read: {exc}") from None
    return parse_doctype(text, path)


def type_files(folder: Path) -> list[Path]:
    """The ``*.yaml`` and ``*.yml`` files of ``folder``, by name; none when it does not exist."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def load_types(folders: Iterable[Path]) -> dict[str, DocType]:
    """Every type in ``folders``, in order; a name defined twice is an error naming both files."""
    found: dict[str, DocType] = {}
    for folder in folders:
        for path in type_files(folder):
            doctype = load_file(path)
            if doctype.name in found:
                raise DocTypeError(path, 1, f"document type {doctype.name!r} is already defined by "
                                            f"{found[doctype.name].source}; give this one another name")
            found[doctype.name] = doctype
    return found
