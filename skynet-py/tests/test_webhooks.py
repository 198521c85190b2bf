"""`sk.webhooks`: an endpoint added (its secret shown once), listed
without it, tested against a real receiver on 127.0.0.1 (opened in
skynet.toml) whose signature check is done here with Python's hmac,
removed; closed addresses raise PolicyForbidden and store nothing;
blocking and asyncio."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

import skynet


class _Receiver(BaseHTTPRequestHandler):
    got: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 (the handler's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Receiver.got.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    _Receiver.got = []
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    (home / "skynet.toml").write_text('[webhooks]\nallow = ["127.0.0.1"]\n')
    return home


def _verifies(secret: str, headers: dict[str, str], body: bytes) -> bool:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    content = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
    return any(
        hmac.compare_digest(sig.removeprefix("v1,"), expected)
        for sig in headers["webhook-signature"].split(" ")
    )


def test_webhooks_round_trip(
    make_skynet: Callable[..., skynet.Skynet], home: Path, receiver: str
) -> None:
    sk = make_skynet(home=home)
    w = sk.webhooks.add(receiver + "?token=T0K", ["job.failed", "provider.*"])
    secret = w["secret"]
    assert secret.startswith("whsec_")
    assert w["types"] == ["job.failed", "provider.*"]
    listed = sk.webhooks.list()
    assert [x["id"] for x in listed] == [w["id"]]
    assert "secret" not in listed[0] and "T0K" not in str(listed)
    outcome = sk.webhooks.test(w["id"])
    assert outcome["delivered"] is True and outcome["status"] == 200
    headers, body = _Receiver.got[-1]
    assert _verifies(secret, headers, body)
    assert sk.webhooks.deliveries(w["id"]) == []
    sk.webhooks.remove(w["id"])
    assert sk.webhooks.list() == []
    with pytest.raises(skynet.WebhookNotFound) as raised:
        sk.webhooks.remove(w["id"])
    assert raised.value.code == "not_found"


@pytest.mark.parametrize(
    "url", ["http://169.254.169.254/latest/meta-data", "http://10.0.0.1/hook", "http://[::1]/x"]
)
def test_closed_addresses_raise_and_store_nothing(sk: skynet.Skynet, url: str) -> None:
    with pytest.raises(skynet.PolicyForbidden):
        sk.webhooks.add(url)
    with pytest.raises(skynet.InvalidInput):
        sk.webhooks.add("http://203.0.113.7/hook", ["job.exploded"])
    assert sk.webhooks.list() == []


def test_async_webhooks(home: Path, receiver: str) -> None:
    async def main() -> None:
        async with skynet.AsyncSkynet(home=home, worker=False) as sk:
            w = await sk.webhooks.add(receiver)
            assert [x["id"] for x in await sk.webhooks.list()] == [w["id"]]
            outcome = await sk.webhooks.test(w["id"])
            assert outcome["delivered"] is True
            assert await sk.webhooks.deliveries(dead=True) == []
            await sk.webhooks.remove(w["id"])

    asyncio.run(main())
