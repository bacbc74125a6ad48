"""APIOperation: one operation of the loaded document (see the package doc)."""
import json

import jsonschema

from .exceptions import CheckFailed


class Param:
    def __init__(self, raw):
        self.definition = raw
        self.name = raw["name"]
        self.is_required = bool(raw.get("required", False))


class Params:
    def __init__(self, items):
        self.items = items


class Definition:
    def __init__(self, raw):
        self.raw = raw


class APIOperation:
    def __init__(self, schema, path, method, definition, common=(), legacy=False):
        self.schema = schema
        self.path = path
        self.method = method
        self.legacy = legacy
        params = list(common) + list(definition.get("parameters", []))
        self.definition = Definition(definition)
        self.path_parameters = Params([Param(p) for p in params if p.get("in") == "path"])
        self.query = Params([Param(p) for p in params if p.get("in") == "query"])

    @classmethod
    def legacy(cls, schema, path, method, query_names):
        params = [{"name": n, "in": "query"} for n in query_names]
        params += [{"name": seg.strip("{}"), "in": "path", "required": True}
                   for seg in path.split("/") if seg.startswith("{")]
        # A body is accepted as anything.
        definition = {"parameters": params,
                      "requestBody": {"content": {"application/json": {"schema": {}}}}}
        return cls(schema, path, method, definition, legacy=True)

    def validate_response(self, response):
        """Checks the body of a documented status code (else `default`)
        with a Draft 4 validator; undocumented codes and legacy operations
        are accepted, as schemathesis does."""
        if self.legacy:
            return None
        responses = {str(k): v for k, v in self.definition.raw.get("responses", {}).items()}
        code = str(response.status_code)
        if code in responses:
            definition = responses[code]
        elif "default" in responses:
            definition = responses["default"]
        else:
            return None
        definition = self.schema.resolve(definition)
        content = definition.get("content", {})
        media = content.get("application/json")
        if media is None or "schema" not in media:
            return None
        try:
            data = response.json()
        except json.JSONDecodeError as exc:
            raise CheckFailed(f"response of {self.method} {self.path} ({code}) is not JSON: {exc}")
        resolver = jsonschema.RefResolver("", self.schema.raw_schema)
        try:
            jsonschema.validate(data, media["schema"], cls=jsonschema.Draft4Validator, resolver=resolver)
        except jsonschema.ValidationError as exc:
            raise CheckFailed(f"response of {self.method} {self.path} ({code}) does not conform to the schema: {exc}")
        return None
