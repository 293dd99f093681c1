"""The handler SDK: what a module that adds request types imports.

    from request_types import Context, JSONObject, RecordContext, TransientError, handler, in_transaction

See `request_types.registry` for the two steps a request type may have, and README "Request types and
your own handlers".
"""

from request_types.errors import HandlerError, PermanentError, TransientError
from request_types.registry import Context, JSONObject, RecordContext, handler, in_transaction

__all__ = [
    "Context",
    "HandlerError",
    "JSONObject",
    "PermanentError",
    "RecordContext",
    "TransientError",
    "handler",
    "in_transaction",
]
