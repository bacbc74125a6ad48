"""Stand-in for the parts of schemathesis that Qdrant's tests/openapi helpers use.

Shoal's own code, for scripts/qdrant-openapi-suite.sh where schemathesis
cannot be installed (PyPI is not reachable): from_file, the operations by
path and method with their path and query parameters (operation.schema,
.definition.raw, .path_parameters, .query), exceptions.CheckFailed,
specs.openapi.references.ConvertingResolver, specs.openapi.schemas.OpenApi30
and validate_response. `nullable: true` is turned into a null alternative
for the whole document at load time. Operations the document does not list
(the legacy /points/search, /points/recommend ... that Qdrant still serves)
get no checks and accept the common query parameters.
"""
import json

from . import exceptions, models
from .specs.openapi.schemas import OpenApi30

# Operations that Qdrant still serves but that the v1.19 document no longer
# lists: let them through without schema checks.
_COMMON_QUERY = ["wait", "ordering", "consistency", "timeout"]


def _to_json_schema(node, nullable_name="nullable"):
    if isinstance(node, list):
        return [_to_json_schema(x, nullable_name) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _to_json_schema(v, nullable_name) for k, v in node.items()}
    if out.get(nullable_name) is True:
        del out[nullable_name]
        out = {"anyOf": [out, {"type": "null"}]}
    return out


class _Methods(dict):
    def __init__(self, schema, path, legacy=False):
        super().__init__()
        self._schema = schema
        self._path = path
        self._legacy = legacy

    def __missing__(self, method):
        op = models.APIOperation.legacy(self._schema, self._path, method, _COMMON_QUERY)
        self[method] = op
        return op


class Schema:
    def __init__(self, raw):
        self.raw_schema = raw
        self.schema = OpenApi30(raw)
        self._paths = {}
        for path, item in raw.get("paths", {}).items():
            methods = _Methods(self.schema, path)
            common = item.get("parameters", [])
            for method, definition in item.items():
                if method == "parameters":
                    continue
                methods[method.upper()] = models.APIOperation(self.schema, path, method.upper(), definition, common)
            self._paths[path] = methods

    def __getitem__(self, path):
        if path not in self._paths:
            self._paths[path] = _Methods(self.schema, path, legacy=True)
        return self._paths[path]


def from_file(f, **_):
    text = f.read() if hasattr(f, "read") else open(f).read()
    raw = json.loads(text)
    return Schema(_to_json_schema(raw))
