"""Spring Cloud Gateway predicate and filter syntax: parse, normalise and validate.

Pure (the standard library and ``protocol/``), so the service layer, serializers, admin forms,
WebSocket handlers and the gateway all share one definition of what a valid route is.
"""

from __future__ import annotations

from tigateway_channels.scg.filters import FILTER_NAMES
from tigateway_channels.scg.model import Definition, SpecIssue, SpecValidationError
from tigateway_channels.scg.parse import (
    parse_filter,
    parse_filters,
    parse_predicate,
    parse_predicates,
)
from tigateway_channels.scg.predicates import PREDICATE_NAMES
from tigateway_channels.scg.uri import validate_uri

__all__ = [
    "FILTER_NAMES",
    "PREDICATE_NAMES",
    "Definition",
    "SpecIssue",
    "SpecValidationError",
    "parse_filter",
    "parse_filters",
    "parse_predicate",
    "parse_predicates",
    "validate_uri",
]
