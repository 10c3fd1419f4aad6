"""Runtime filters compiled from validated definitions (spring-cloud-gateway.md §6).

The path, header, parameter, status, redirect and request-size filters live here; Retry is in
``retry.py`` and RequestRateLimiter in ``ratelimit.py``. ``compile_filter`` is the one entry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote_plus

from tigateway_channels.gateway.chain import GatewayFilter, Next
from tigateway_channels.gateway.exchange import Exchange, GatewayResponse, remove_header
from tigateway_channels.gateway.patterns import Template
from tigateway_channels.scg import Definition
from tigateway_channels.scg.javaregex import compile_java_regex

if TYPE_CHECKING:
    from tigateway_channels.gateway.context import GatewayContext

_QUERY_SAFE = "-._~!$'()*,;:@/?"


def encode_header(value: str) -> bytes:
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


# -- path -----------------------------------------------------------------------------------


def strip_prefix(path: str, parts: int) -> str:
    """Drop the first ``parts`` non-empty segments; a trailing slash stays unless only '/' is
    left."""
    segments = [segment for segment in path.split("/") if segment]
    stripped = "/" + "/".join(segments[max(parts, 0) :])
    if path.endswith("/") and stripped != "/":
        stripped += "/"
    return stripped


def _strip_prefix(args: dict[str, Any]) -> GatewayFilter:
    parts = int(args.get("parts", 1))

    def pre(exchange: Exchange) -> None:
        exchange.path = strip_prefix(exchange.path, parts)

    return GatewayFilter("StripPrefix", pre=pre)


def _prefix_path(args: dict[str, Any]) -> GatewayFilter:
    template = Template(args["prefix"])

    def pre(exchange: Exchange) -> None:
        if exchange.prefixed:  # at most once per exchange, as SCG
            return
        exchange.path = template.expand(exchange.variables, encode_path=True) + exchange.path
        exchange.prefixed = True

    return GatewayFilter("PrefixPath", pre=pre)


def java_replacement(replacement: str, groups: int) -> Callable[[Any], str]:
    """Java ``Matcher.replaceAll`` replacement text (``$1``, ``${name}``, ``\\$``) as a function
    of the match, parsed once. Validation already refused references to missing groups."""
    parts: list[tuple[str, str | int]] = []  # ("text", str) or ("group", int | name)
    literal: list[str] = []
    i, n = 0, len(replacement)
    while i < n:
        ch = replacement[i]
        if ch == "\\" and i + 1 < n:
            literal.append(replacement[i + 1])
            i += 2
            continue
        if ch != "$" or i + 1 >= n:
            literal.append(ch)
            i += 1
            continue
        if literal:
            parts.append(("text", "".join(literal)))
            literal = []
        if replacement[i + 1] == "{":
            end = replacement.index("}", i)
            parts.append(("group", replacement[i + 2 : end]))
            i = end + 1
            continue
        number, j = int(replacement[i + 1]), i + 2
        # Java reads further digits only while the number stays a group of the pattern.
        while j < n and replacement[j].isdigit() and number * 10 + int(replacement[j]) <= groups:
            number, j = number * 10 + int(replacement[j]), j + 1
        parts.append(("group", number))
        i = j
    if literal:
        parts.append(("text", "".join(literal)))

    def expand(match: Any) -> str:
        return "".join(
            str(value) if kind == "text" else (match.group(value) or "") for kind, value in parts
        )

    return expand


def _rewrite_path(args: dict[str, Any]) -> GatewayFilter:
    pattern = compile_java_regex(args["regexp"])
    replace = java_replacement(args["replacement"], pattern.groups)

    def pre(exchange: Exchange) -> None:
        exchange.path = pattern.sub(replace, exchange.path)

    return GatewayFilter("RewritePath", pre=pre)


def _set_path(args: dict[str, Any]) -> GatewayFilter:
    template = Template(args["template"])

    def pre(exchange: Exchange) -> None:
        exchange.path = template.expand(exchange.variables, encode_path=True)

    return GatewayFilter("SetPath", pre=pre)


# -- headers --------------------------------------------------------------------------------


def _value_of(raw: str) -> Callable[[Exchange], bytes]:
    """A header or parameter value: a template only when it contains '{' (as SCG)."""
    if "{" not in raw:
        encoded = encode_header(raw)
        return lambda exchange: encoded
    template = Template(raw)
    return lambda exchange: encode_header(template.expand(exchange.variables, encode_path=False))


def _add_request_header(args: dict[str, Any]) -> GatewayFilter:
    name, value = args["name"].lower().encode("latin-1"), _value_of(args["value"])

    def pre(exchange: Exchange) -> None:
        exchange.headers = [*exchange.headers, (name, value(exchange))]

    return GatewayFilter("AddRequestHeader", pre=pre)


def _set_request_header(args: dict[str, Any]) -> GatewayFilter:
    name, value = args["name"].lower().encode("latin-1"), _value_of(args["value"])

    def pre(exchange: Exchange) -> None:
        exchange.headers = [*remove_header(exchange.headers, name), (name, value(exchange))]

    return GatewayFilter("SetRequestHeader", pre=pre)


def _remove_request_header(args: dict[str, Any]) -> GatewayFilter:
    name = args["name"].lower().encode("latin-1")

    def pre(exchange: Exchange) -> None:
        exchange.headers = remove_header(exchange.headers, name)

    return GatewayFilter("RemoveRequestHeader", pre=pre)


def _add_response_header(args: dict[str, Any]) -> GatewayFilter:
    name, value = args["name"].lower().encode("latin-1"), _value_of(args["value"])
    override = bool(args.get("override", True))

    def post(exchange: Exchange, response: GatewayResponse) -> None:
        if not override:
            present = [v for k, v in response.headers if k == name]
            if any(v.strip() for v in present):
                return
        response.headers.append((name, value(exchange)))

    return GatewayFilter("AddResponseHeader", post=post)


def _set_response_header(args: dict[str, Any]) -> GatewayFilter:
    name, value = args["name"].lower().encode("latin-1"), _value_of(args["value"])

    def post(exchange: Exchange, response: GatewayResponse) -> None:
        response.headers = [*remove_header(response.headers, name), (name, value(exchange))]

    return GatewayFilter("SetResponseHeader", post=post)


def _remove_response_header(args: dict[str, Any]) -> GatewayFilter:
    name = args["name"].lower().encode("latin-1")

    def post(exchange: Exchange, response: GatewayResponse) -> None:
        response.headers = remove_header(response.headers, name)

    return GatewayFilter("RemoveResponseHeader", post=post)


# -- query parameters -----------------------------------------------------------------------


def _add_request_parameter(args: dict[str, Any]) -> GatewayFilter:
    name, raw_value = args["name"], args["value"]
    template = Template(raw_value) if "{" in raw_value else None

    def pre(exchange: Exchange) -> None:
        value = template.expand(exchange.variables, False) if template else raw_value
        query = exchange.query
        if query and not query.endswith("&"):
            query += "&"
        exchange.query = f"{query}{name}={value}"

    return GatewayFilter("AddRequestParameter", pre=pre)


def _remove_request_parameter(args: dict[str, Any]) -> GatewayFilter:
    unwanted = args["name"]

    def pre(exchange: Exchange) -> None:
        if not exchange.query:
            return
        kept = []
        for part in exchange.query.split("&"):
            if not part:
                continue
            raw_name, eq, raw_value = part.partition("=")
            name = unquote_plus(raw_name)
            if name == unwanted:
                continue
            encoded = quote(name, safe=_QUERY_SAFE)
            if eq:
                encoded += "=" + quote(unquote_plus(raw_value), safe=_QUERY_SAFE)
            kept.append(encoded)
        exchange.query = "&".join(kept)

    return GatewayFilter("RemoveRequestParameter", pre=pre)


# -- status, redirect, size -----------------------------------------------------------------


def _set_status(args: dict[str, Any], context: GatewayContext) -> GatewayFilter:
    status = int(args["status"])
    original_header = context.original_status_header

    def post(exchange: Exchange, response: GatewayResponse) -> None:
        if original_header is not None:
            response.headers.append((original_header, f"[{response.status}]".encode()))
        response.status = status

    return GatewayFilter("SetStatus", post=post)


def _redirect_to(args: dict[str, Any]) -> GatewayFilter:
    status, url = int(args["status"]), args["url"]
    with_params = bool(args.get("includeRequestParams", False))

    async def around(exchange: Exchange, call_next: Next) -> GatewayResponse:
        location = url
        query = exchange.scope.get("query_string", b"").decode("latin-1")
        if with_params and query:
            location += ("&" if "?" in location else "?") + query
        headers = [(b"location", encode_header(location)), (b"content-length", b"0")]
        return GatewayResponse(status, headers)

    return GatewayFilter("RedirectTo", around=around)


def readable_size(size: int) -> str:
    """SCG's message format: decimal units, one decimal (``6.0 MB``)."""
    if size < 1000:
        return f"{size} B"
    exponent, value = 0, float(size)
    while value >= 1000 and exponent < 6:
        value /= 1000
        exponent += 1
    return f"{value:.1f} {'KMGTPE'[exponent - 1]}B"


def _request_size(args: dict[str, Any]) -> GatewayFilter:
    limit = int(args.get("maxSize", 5_000_000))

    async def around(exchange: Exchange, call_next: Next) -> GatewayResponse:
        for key, raw in exchange.incoming_headers:
            if key != b"content-length":
                continue
            try:
                size = int(raw)
            except ValueError:
                return GatewayResponse(400, [(b"content-length", b"0")])
            if size > limit:
                message = (
                    "Request size is larger than permissible limit. Request size is "
                    f"{readable_size(size)} where permissible limit is {readable_size(limit)}"
                )
                headers = [(b"errormessage", message.encode()), (b"content-length", b"0")]
                # The body is never read: the server closes the connection after answering.
                return GatewayResponse(413, [*headers, (b"connection", b"close")])
        return await call_next()

    return GatewayFilter("RequestSize", around=around)


_SIMPLE: dict[str, Callable[[dict[str, Any]], GatewayFilter]] = {
    "StripPrefix": _strip_prefix,
    "PrefixPath": _prefix_path,
    "RewritePath": _rewrite_path,
    "SetPath": _set_path,
    "AddRequestHeader": _add_request_header,
    "SetRequestHeader": _set_request_header,
    "RemoveRequestHeader": _remove_request_header,
    "AddResponseHeader": _add_response_header,
    "SetResponseHeader": _set_response_header,
    "RemoveResponseHeader": _remove_response_header,
    "AddRequestParameter": _add_request_parameter,
    "RemoveRequestParameter": _remove_request_parameter,
    "RedirectTo": _redirect_to,
    "RequestSize": _request_size,
}


def compile_filter(definition: Definition, route_id: str, context: GatewayContext) -> GatewayFilter:
    """The runtime filter of one validated definition."""
    name, args = definition.name, definition.args
    simple = _SIMPLE.get(name)
    if simple is not None:
        return simple(args)
    if name == "SetStatus":
        return _set_status(args, context)
    if name == "Retry":
        from tigateway_channels.gateway.retry import retry_filter

        return retry_filter(args, context)
    if name == "RequestRateLimiter":
        from tigateway_channels.gateway.ratelimit import rate_limiter_filter

        return rate_limiter_filter(args, route_id, context)
    raise ValueError(f"filter {name!r} has no runtime behaviour")
