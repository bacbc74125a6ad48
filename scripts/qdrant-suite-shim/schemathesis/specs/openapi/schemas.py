"""OpenApi30: the loaded document and $ref resolution."""
class OpenApi30:
    """The loaded document; nullable members are already turned into null alternatives."""

    nullable_name = "nullable"

    def __init__(self, raw):
        self.raw_schema = raw
        self.location = ""

    def resolve(self, node):
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            assert ref.startswith("#/")
            target = self.raw_schema
            for part in ref[2:].split("/"):
                target = target[part]
            node = target
        return node
