"""``bridge serve``: a voice-assistant backend over one documented WebSocket protocol.

One connection is one conversation: the client sends text (``user.message``), the server
streams the reply's text and its speech (binary PCM frames) back, with barge-in
(``response.cancel``) and exact spoken history from the client's ``playback.ack``. See
``docs/protocol.md``. Layout:

- ``protocol``: messages, validation, error and close codes (pure);
- ``limits``: limits, rate limiting and the handshake's access decision (pure);
- ``clients``: the client address behind a connection (trusted proxies' forwarded header);
- ``quotas``: the turn rates per client address and per server, sessions per address (pure);
- ``options``: server options, per-session settings, shared resources;
- ``outbox``/``sink``: the ordered send queue and the paced audio sink of a response;
- ``speak``: the text a client appends for a speak response (``text.append``);
- ``speech_api``/``speech_http``: OpenAI-compatible ``POST /v1/audio/speech`` (the request,
  pure; its h11 listener on ``--speech-port``);
- ``session``: one connection; ``http``: plain HTTP routes; ``app``: the server's lifetime.
"""

from __future__ import annotations

from bridge.server.app import BridgeServer, builtin_prompts, serve_bridge
from bridge.server.limits import ServerLimits
from bridge.server.options import ServerOptions
from bridge.server.protocol import ClientProtocolError, CloseCode, ErrorCode

__all__ = [
    "BridgeServer",
    "ClientProtocolError",
    "CloseCode",
    "ErrorCode",
    "ServerLimits",
    "ServerOptions",
    "builtin_prompts",
    "serve_bridge",
]
