"""lb:// discovery by DNS SRV records, against a real DNS server on loopback (a small UDP
responder built with dnspython, the library the resolver itself uses)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from types import SimpleNamespace

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from tigateway_channels.gateway.registry import DnsResolver, Instance

# _http._tcp.users: two instances at priority 10 (the preferred ones), one backup at 20.
ZONE = {
    "_http._tcp.users.": [
        "10 60 8081 users-a.internal.",
        "10 40 8082 users-b.internal.",
        "20 100 9090 users-backup.internal.",
    ]
}


def answer(query: bytes) -> bytes:
    request = dns.message.from_wire(query)
    reply = dns.message.make_response(request)
    question = request.question[0]
    records = ZONE.get(question.name.to_text())
    if records is None or question.rdtype != dns.rdatatype.SRV:
        reply.set_rcode(dns.rcode.NXDOMAIN)
    else:
        reply.answer.append(dns.rrset.from_text(question.name, 30, "IN", "SRV", *records))
    return reply.to_wire()


@pytest.fixture
def dns_server() -> Iterator[str]:
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                query, peer = server.recvfrom(4096)
            except TimeoutError:
                continue
            server.sendto(answer(query), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(2)
        server.close()


def srv_settings(nameserver: str) -> SimpleNamespace:
    return SimpleNamespace(
        GATEWAY_DNS_MODE="srv",
        GATEWAY_DNS_PORT=80,
        GATEWAY_DNS_SRV_PREFIX="_http._tcp",
        GATEWAY_DNS_NAMESERVERS=[nameserver],
    )


async def test_srv_records_of_the_best_priority_are_the_instances(dns_server: str) -> None:
    found = await DnsResolver(srv_settings(dns_server)).resolve("users")
    assert found is not None
    assert sorted(found, key=lambda i: i.port) == [
        Instance("users-a.internal", 8081),
        Instance("users-b.internal", 8082),
    ]


async def test_an_unknown_service_has_no_srv_instances(dns_server: str) -> None:
    assert await DnsResolver(srv_settings(dns_server)).resolve("orders") is None
