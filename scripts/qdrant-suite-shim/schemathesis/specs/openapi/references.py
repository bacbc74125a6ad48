"""ConvertingResolver: a RefResolver over the converted document."""
import jsonschema


class ConvertingResolver(jsonschema.RefResolver):
    """Resolves references within the document (nullable was converted at load time)."""

    def __init__(self, base_uri, referrer, *args, nullable_name="nullable", is_response_schema=False, **kwargs):
        super().__init__(base_uri, referrer, *args, **kwargs)
        self.nullable_name = nullable_name
        self.is_response_schema = is_response_schema
