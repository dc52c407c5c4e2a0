"""The request body's size limit, checked before anything reads the body.

DRF's parsers read the request stream themselves, past Django's
DATA_UPLOAD_MAX_MEMORY_SIZE (which only ``request.body`` and form parsing
check): without this, a 20 MB JSON body is read into memory and parsed.
"""

import io

from django.conf import settings
from django.http import HttpResponse, JsonResponse

from core.errors import error_body
from core.parse import is_ascii_int

API_PREFIX = "/api/"


def request_body_limit(get_response):
    """Middleware, placed first: a body larger than MAX_REQUEST_BODY_BYTES
    answers 413 without being read; a Content-Length that is not a number
    answers 400. A chunked body (no Content-Length: the ASGI server spooled
    it) is read up to the limit and one byte more, and kept for the view."""

    def middleware(request):
        limit = settings.MAX_REQUEST_BODY_BYTES
        declared = request.META.get("CONTENT_LENGTH") or ""
        if declared:
            if not is_ascii_int(declared, max_digits=20):
                return refusal(request, 400, "bad_request", "the Content-Length header is not a number of bytes")
            if int(declared) > limit:
                return too_large(request, limit)
        elif "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
            body = request.read(limit + 1)
            if len(body) > limit:
                return too_large(request, limit)
            # What was read is the body: Django's request.body and DRF's
            # parsers (which skip a body of Content-Length 0) read it again.
            request._body = body
            request._stream = io.BytesIO(body)
            request._read_started = False
            request.META["CONTENT_LENGTH"] = str(len(body))
        return get_response(request)

    return middleware


def too_large(request, limit: int):
    return refusal(request, 413, "too_large", f"the request body is larger than {limit} bytes")


def refusal(request, status: int, code: str, message: str):
    """In the API's error shape under /api/, else in plain words."""
    sentence = message[:1].upper() + message[1:] + "."
    if request.path.startswith(API_PREFIX):
        return JsonResponse(error_body(status, code, sentence), status=status)
    return HttpResponse(sentence, status=status, content_type="text/plain; charset=utf-8")
