"""Reading ``NEONBLUE_KAFKA_BOOTSTRAP_SERVERS`` for the quick reachability check."""

from __future__ import annotations

import socket

import pytest

from infrastructure.ingest.errors import BrokerUnavailable
from infrastructure.ingest.kafka import bootstrap_addresses, require_reachable
from tests.support.postgres import free_port


def test_every_form_of_address_is_read() -> None:
    servers = "127.0.0.1:9092, broker-2:19092,PLAINTEXT://kafka:9093,[::1]:9094,nonsense"
    assert bootstrap_addresses(servers) == [
        ("127.0.0.1", 9092),
        ("broker-2", 19092),
        ("kafka", 9093),
        ("::1", 9094),
    ]


def test_one_listening_address_is_enough() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listening:
        port = listening.getsockname()[1]
        require_reachable(f"127.0.0.1:{free_port()},127.0.0.1:{port}")


def test_no_listening_address_names_each_failure() -> None:
    first, second = free_port(), free_port()
    with pytest.raises(BrokerUnavailable) as raised:
        require_reachable(f"127.0.0.1:{first},127.0.0.1:{second}")
    message = str(raised.value)
    assert f"127.0.0.1:{first}: Connection refused" in message
    assert f"127.0.0.1:{second}: Connection refused" in message
    assert "NEONBLUE_KAFKA_BOOTSTRAP_SERVERS" in message


def test_unparsed_addresses_are_left_to_the_client() -> None:
    require_reachable("not-an-address")  # no exception: the client reports it its own way
