"""Against the real services: skipped unless the keys are set (never in CI)."""

from __future__ import annotations

import os

import pytest

from bridge.adapters.llm import LLMClient, LLMConfig
from bridge.qwen import SessionConfig, connect

pytestmark = [pytest.mark.live, pytest.mark.anyio]

DASHSCOPE = os.environ.get("DASHSCOPE_API_KEY")
OPENAI = os.environ.get("OPENAI_API_KEY")
REGION = os.environ.get("BRIDGE_TTS_REGION", "beijing")


@pytest.mark.skipif(not DASHSCOPE, reason="needs DASHSCOPE_API_KEY")
async def test_real_qwen_tts_speaks_in_both_modes() -> None:
    for mode in ("server_commit", "commit"):
        async with connect(
            region=REGION,
            api_key=DASHSCOPE,
            config=SessionConfig(mode=mode),  # type: ignore[arg-type]
        ) as tts:
            await tts.append("Hello from the bridge test suite.")
            if mode == "commit":
                await tts.commit()
            chunks = await tts.finish()
        assert sum(len(c.data) for c in chunks) > 24000
        assert tts.responses and tts.responses[0].first_audio_latency is not None


@pytest.mark.skipif(not OPENAI, reason="needs OPENAI_API_KEY")
async def test_real_openai_streams() -> None:
    config = LLMConfig(
        base_url=os.environ.get("OPENAI_BASE_URL"),
        api_key=OPENAI,
        model=os.environ.get("BRIDGE_LLM_MODEL", "gpt-4o-mini"),
    )
    async with LLMClient(config) as llm:
        text = "".join([d async for d in llm.stream([{"role": "user", "content": "Say hi."}])])
    assert text.strip()
