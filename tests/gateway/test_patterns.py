"""Path and Host patterns (Spring PathPattern / Ant host matching) and URI templates."""

from __future__ import annotations

import pytest

from tigateway_channels.gateway.patterns import (
    HostPattern,
    PathPattern,
    Template,
    TemplateError,
    split_path,
)


def path_match(pattern: str, path: str, trailing: bool = True) -> dict[str, str] | None:
    variables: dict[str, str] = {}
    if PathPattern(pattern).match(split_path(path), variables, trailing):
        return variables
    return None


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("/api/users", "/api/users", {}),
        ("/api/users", "/api/users/", {}),
        ("/api/users", "/api/user", None),
        ("/api/**", "/api", {}),
        ("/api/**", "/api/", {}),
        ("/api/**", "/api/a/b/c", {}),
        ("/api/**", "/apix", None),
        ("/**", "/", {}),
        ("/**", "/anything/at/all", {}),
        ("/red/{segment}", "/red/blue", {"segment": "blue"}),
        ("/red/{segment}", "/red/", None),
        ("/red/{segment}", "/red/blue/green", None),
        ("/red/{segment}", "/red/1/", {"segment": "1"}),
        ("/api/{*rest}", "/api/a/b", {"rest": "/a/b"}),
        ("/api/{*rest}", "/api", {"rest": ""}),
        ("/f/{n:\\d+}.json", "/f/12.json", {"n": "12"}),
        ("/f/{n:\\d+}.json", "/f/1a.json", None),
        ("/t?st", "/test", {}),
        ("/t?st", "/toast", None),
        ("/img/*.png", "/img/cat.png", {}),
        ("/img/*.png", "/img/cat.gif", None),
        ("/a/*", "/a/x", {}),
        ("/a/*", "/a/", {}),
        ("/a/*/c", "/a//c", None),
        ("/{name}-{version}.jar", "/lib-1.0.jar", {"name": "lib", "version": "1.0"}),
        ("/files/{name}", "/files/a%20b", {"name": "a b"}),
        ("/files/{name}", "/files/a;v=1", {"name": "a"}),
    ],
)
def test_path_patterns_match_as_spring_does(
    pattern: str, path: str, expected: dict[str, str] | None
) -> None:
    assert path_match(pattern, path) == expected


def test_trailing_slash_is_refused_when_match_trailing_slash_is_false() -> None:
    assert path_match("/red/{segment}", "/red/1/", trailing=False) is None
    assert path_match("/red/{segment}", "/red/1", trailing=False) == {"segment": "1"}


def test_a_path_pattern_knows_its_literal_prefix() -> None:
    assert PathPattern("/api/users/{id}").prefix == ("api", "users")
    assert PathPattern("/api/**").prefix == ("api",)
    assert PathPattern("/v*/x").prefix == ()
    assert PathPattern("/").prefix == ("",)


@pytest.mark.parametrize(
    ("pattern", "host", "expected"),
    [
        ("example.org", "example.org", {}),
        ("example.org", "www.example.org", None),
        ("**.example.org", "example.org", {}),
        ("**.example.org", "a.b.example.org", {}),
        ("**.example.org", "example.org:8080", None),
        ("*.example.org", "www.example.org", {}),
        ("*.example.org", "a.b.example.org", None),
        ("{sub}.myhost.org", "beta.myhost.org", {"sub": "beta"}),
        ("{sub:[a-z]+}.myhost.org", "beta1.myhost.org", None),
        ("example.org:8080", "example.org:8080", {}),
        ("example.**", "example.org", {}),
        ("example.**", "example", {}),
        ("?.example.org", "a.example.org", {}),
        ("EXAMPLE.org", "example.org", None),
    ],
)
def test_host_patterns_match_as_ant_does(
    pattern: str, host: str, expected: dict[str, str] | None
) -> None:
    variables: dict[str, str] = {}
    matched = HostPattern(pattern).match(host, variables)
    assert (variables if matched else None) == expected


def test_templates_expand_variables_encoding_paths() -> None:
    template = Template("/v2/{segment}/{rest}")
    assert template.expand({"segment": "a b", "rest": "x/y"}, encode_path=True) == "/v2/a%20b/x/y"
    assert Template("Blue-{segment}").expand({"segment": "a b"}, encode_path=False) == "Blue-a b"
    assert Template("/{id:\\d+}").expand({"id": "7"}, encode_path=True) == "/7"
    with pytest.raises(TemplateError, match="no value for 'missing'"):
        Template("/{missing}").expand({}, encode_path=True)
