"""The local edge's WebSockets compress at zlib level 1, keeping uvicorn's other deflate settings."""

from __future__ import annotations

from typing import Any

from uvicorn.config import Config
from uvicorn.server import ServerState
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory

from edge_local.wsprotocol import COMPRESSION_LEVEL, EdgeWebSockets


async def app(scope: Any, receive: Any, send: Any) -> None:
    pass


async def test_per_message_deflate_is_offered_at_the_cheaper_level() -> None:
    config = Config(app=app, ws="edge_local.wsprotocol:EdgeWebSockets")
    config.load()
    assert config.ws_protocol_class is EdgeWebSockets
    protocol = EdgeWebSockets(config=config, server_state=ServerState(), app_state={})
    (factory,) = protocol.conn.available_extensions or ()
    assert isinstance(factory, ServerPerMessageDeflateFactory)
    assert factory.compress_settings == {"memLevel": 5, "level": COMPRESSION_LEVEL}
