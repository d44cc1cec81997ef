"""Schemathesis hooks for scripts/fuzz_api.sh: bodies for the CSV uploads and the raw image
upload, which schemathesis cannot serialise by itself."""

import schemathesis


def _text(value):
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    return str(value).encode()


def _binary(value):
    if isinstance(value, (bytes, str)):
        return _text(value)
    if isinstance(value, list):
        return bytes(int(v) % 256 for v in value if isinstance(v, (int, float)))
    return str(value).encode()


@schemathesis.serializer("text/csv")
class CsvSerializer:
    def as_requests(self, context, value):
        return {"data": _text(value)}

    def as_werkzeug(self, context, value):
        return {"data": _text(value)}


class ImageSerializer:
    def as_requests(self, context, value):
        return {"data": _binary(value)}

    def as_werkzeug(self, context, value):
        return {"data": _binary(value)}


for _media_type in ("image/jpeg", "image/png", "image/webp"):
    schemathesis.serializer(_media_type)(ImageSerializer)
