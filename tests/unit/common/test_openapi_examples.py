"""Every JSON request body of a POST/PUT/PATCH under /api/v1 carries an example in the OpenAPI document."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from gateway import routers
from gateway.app import create_app
from services.common.settings import Settings

WRITES = ("post", "put", "patch")


def openapi(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("GRANARY_JWT_SECRET", "unit-test-secret-" + "x" * 32)
    return create_app(Settings()).openapi()


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Follows ``$ref`` into ``components``, also through a lone ``allOf`` and an optional body's
    ``anyOf: [X, null]``."""
    while True:
        if "$ref" in schema:
            *_, name = schema["$ref"].split("/")
            schema = document["components"]["schemas"][name]
            continue
        if schema.keys() & {"example", "examples"}:
            return schema
        wrapped = [s for s in schema.get("allOf", []) + schema.get("anyOf", []) if s.get("type") != "null"]
        if len(wrapped) != 1:
            return schema
        schema = wrapped[0]


def json_bodies(document: dict[str, Any]) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """``"POST /api/v1/..."`` -> (the media type object, the resolved body schema) of every JSON write."""
    found = {}
    for path, operations in document["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in operations.items():
            if method not in WRITES:
                continue
            media = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if media is not None:
                found[f"{method.upper()} {path}"] = (media, resolve(document, media.get("schema", {})))
    return found


def has_example(media: dict[str, Any], schema: dict[str, Any]) -> bool:
    return bool(media.get("example") or media.get("examples") or schema.get("example") or schema.get("examples"))


def test_every_json_write_under_api_v1_has_a_request_body_example(monkeypatch: pytest.MonkeyPatch) -> None:
    bodies = json_bodies(openapi(monkeypatch))
    assert len(bodies) > 20  # the walk found the API's writes, not an empty document
    missing = sorted(op for op, (media, schema) in bodies.items() if not has_example(media, schema))
    assert missing == []


def test_the_examples_fit_their_own_schema_properties(monkeypatch: pytest.MonkeyPatch) -> None:
    """An example names only fields the body has, and every required one."""
    document = openapi(monkeypatch)
    wrong = []
    for op, (_, schema) in json_bodies(document).items():
        properties = set(schema.get("properties", {}))
        if not properties:
            continue
        examples = schema.get("examples") or ([schema["example"]] if "example" in schema else [])
        for example in examples:
            if not isinstance(example, dict):
                continue
            unknown = set(example) - properties
            absent = set(schema.get("required", [])) - set(example)
            if unknown or absent:
                wrong.append((op, sorted(unknown), sorted(absent)))
    assert wrong == []


def test_an_operation_without_an_example_is_reported() -> None:
    """The checker itself can fail: a body schema without an example counts as missing."""
    document = {
        "components": {"schemas": {"Bare": {"type": "object", "properties": {"name": {"type": "string"}}}}},
        "paths": {
            "/api/v1/things": {
                "post": {
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {"anyOf": [{"$ref": "#/components/schemas/Bare"}, {"type": "null"}]}
                            }
                        }
                    }
                }
            }
        },
    }
    [(media, schema)] = json_bodies(document).values()
    assert not has_example(media, schema)
    document["components"]["schemas"]["Bare"]["examples"] = [{"name": "张三"}]
    [(media, schema)] = json_bodies(document).values()
    assert has_example(media, schema)


def test_every_request_example_is_accepted_by_its_model() -> None:
    """The examples are valid requests: each one passes its own model's validation."""
    checked, rejected = 0, []
    for module_info in pkgutil.iter_modules(routers.__path__):
        module = importlib.import_module(f"{routers.__name__}.{module_info.name}")
        for model in vars(module).values():
            if not (isinstance(model, type) and issubclass(model, BaseModel) and model.__module__ == module.__name__):
                continue
            extra = model.model_config.get("json_schema_extra")
            for example in extra.get("examples", []) if isinstance(extra, dict) else []:
                checked += 1
                try:
                    model.model_validate(example)
                except ValidationError as error:
                    rejected.append((model.__qualname__, str(error)))
    assert checked > 50
    assert rejected == []
