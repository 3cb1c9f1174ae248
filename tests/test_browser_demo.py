"""The demo page at `/` in headless Chromium (DevTools protocol, no Node): type a message, see
the reply's text arrive, check that audio was received, scheduled and played gaplessly, press
Stop and see the interruption. Fails (with how to install it) when Chromium is missing."""

from __future__ import annotations

import _browser
import pytest
from _browser import chromium
from _serve import LONG, running

from bridge.local import LatencyModel
from bridge.server import ServerOptions
from bridge.testing.fake_llm import FakeReply, tokens_for

pytestmark = pytest.mark.anyio

STATE = "JSON.stringify(window.bridgeDemo)"


async def test_demo_page_speaks_streams_text_and_stops_on_barge_in() -> None:
    reply = FakeReply(tokens_for(LONG), delay=0.01)
    # Faster than real time, paced by the server: the client holds at most 0.5 s ahead.
    options = ServerOptions(port=0, audio_lead=0.5)
    latency = LatencyModel(rtf=0.5)
    async with running([reply], options=options, latency=latency) as stack, chromium() as cdp:
        await cdp.open_page(stack.server.http_url)
        await cdp.wait_for(
            "window.bridgeDemo && bridgeDemo.state === 'ready'", timeout=15, what="session.ready"
        )
        voices = await cdp.evaluate("[...document.querySelectorAll('#voice option')].length")
        assert voices > 1
        # Type a message and press Send (a user gesture, so audio may start).
        await cdp.evaluate("document.getElementById('text').focus()")
        await cdp.call("Input.insertText", {"text": "Plan a walk for me."})
        await cdp.evaluate("document.getElementById('send').click()", gesture=True)
        await cdp.wait_for(
            "document.querySelector('.msg.assistant .text')?.textContent.includes('weather')",
            timeout=15,
            what="the reply's text",
        )
        await cdp.wait_for(
            "bridgeDemo.samplesPlayed > 0.6 * 24000 && bridgeDemo.acksSent > 2",
            timeout=15,
            what="audio to play and be acknowledged",
        )
        # The caption highlights the sentence being spoken: past the first one by now.
        await cdp.wait_for(
            "bridgeDemo.speaking && bridgeDemo.speaking.index >= 1",
            timeout=15,
            what="the second sentence highlighted",
        )
        caption = await cdp.evaluate(
            "(() => { const s = bridgeDemo.speaking;"
            " const r = bridgeDemo.responses[s.rid];"
            " const el = document.querySelectorAll('.msg.assistant .caption .seg.speaking');"
            " return {index: s.index, timing: r.timings[s.index], played: r.played,"
            " count: el.length, elIndex: el.length ? Number(el[0].dataset.index) : null,"
            " text: el.length ? el[0].textContent.trim() : null,"
            " highlighted: r.highlighted}; })()"
        )
        playing = await cdp.evaluate("bridgeDemo")
        assert playing["player"] == "worklet"
        assert playing["framesReceived"] > 0
        assert playing["samplesScheduled"] == playing["samplesReceived"] > 0
        assert playing["underruns"] == 0
        assert (await cdp.evaluate("document.getElementById('ttfa').textContent")).endswith("ms")
        assert 0 < playing["firstAudioMs"] < 5000
        # Barge-in.
        await cdp.evaluate("document.getElementById('stop').click()", gesture=True)
        await cdp.wait_for(
            "bridgeDemo.interruptions === 1 && "
            "Object.values(bridgeDemo.responses)[0].result !== undefined",
            timeout=10,
            what="response.interrupted and response.done",
        )
        stopped = await cdp.evaluate("bridgeDemo")
        frames_then = stopped["framesReceived"]
        response = next(iter(stopped["responses"].values()))
        note = await cdp.evaluate("document.querySelector('.msg.assistant .note')?.textContent")
        # After the interruption nothing more of that reply is played or received.
        await cdp.evaluate("new Promise((done) => setTimeout(done, 500))")
        later = await cdp.evaluate("bridgeDemo")
    # One sentence highlighted, the one whose samples are playing, in order from the first.
    assert caption["count"] == 1 and caption["elIndex"] == caption["index"]
    assert caption["text"] and caption["text"] in LONG
    assert caption["timing"]["start"] <= caption["played"]
    assert caption["highlighted"][0] == 0
    assert caption["highlighted"] == sorted(caption["highlighted"])
    assert note == "(interrupted)"
    assert response["state"] == "interrupted"
    assert response["result"]["interrupted"]
    heard = response["spoken"]
    assert heard and LONG.startswith(heard) and len(heard) < len(LONG)
    # The server counted what the page acknowledged, within one acknowledgement interval.
    heard_ms = response["result"]["audio_ms"]
    assert abs(heard_ms - response["played"] / 24) < 250
    assert later["framesReceived"] == frames_then
    assert later["samplesPlayed"] - stopped["samplesPlayed"] < 0.05 * 24000
    assert later["errors"] == []


def test_a_missing_chromium_fails_with_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_browser, "CANDIDATES", ("no-such-chromium",))
    monkeypatch.setenv("BRIDGE_CHROMIUM", "/nonexistent/chromium")
    monkeypatch.setenv("BRIDGE_NO_INSTALL", "1")
    with pytest.raises(pytest.fail.Exception, match=r"apt-get install -y chromium"):
        _browser.find_chromium()


def test_a_missing_program_without_root_fails_with_the_install_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import _system

    monkeypatch.setattr(_system.os, "geteuid", lambda: 1000)
    with pytest.raises(pytest.fail.Exception, match=r"apt-get install -y no-such-pkg"):
        _system.require_program("no-such-program-xyz", "no-such-pkg")


async def test_demo_page_speaks_pasted_text_on_a_server_without_a_chat_model() -> None:
    text = "This text is spoken as it is. No chat model is asked."
    async with running(chat=False) as stack, chromium() as cdp:
        await cdp.open_page(stack.server.http_url)
        await cdp.wait_for(
            "window.bridgeDemo && bridgeDemo.state === 'ready'", timeout=15, what="session.ready"
        )
        # No chat model: the message box is off, the speak box is on.
        assert await cdp.evaluate("document.getElementById('send').disabled") is True
        await cdp.evaluate("document.getElementById('speak-text').focus()")
        await cdp.call("Input.insertText", {"text": text})
        await cdp.evaluate("document.getElementById('speak').click()", gesture=True)
        await cdp.wait_for(
            "Object.values(bridgeDemo.responses)[0]?.result !== undefined",
            timeout=15,
            what="response.done of the speak response",
        )
        state = await cdp.evaluate("bridgeDemo")
        shown = await cdp.evaluate("document.querySelector('.msg.spoken .caption')?.textContent")
    response = next(iter(state["responses"].values()))
    assert response["kind"] == "speak"
    assert response["result"]["spoken_text"] == text
    assert shown == text
    assert state["samplesReceived"] > 0 and state["errors"] == []
    assert stack.fake.requests == []


async def test_demo_page_resumes_its_conversation_after_a_reconnect() -> None:
    reply = FakeReply(tokens_for("Nice to meet you."), delay=0.005)
    async with running([reply]) as stack, chromium() as cdp:
        await cdp.open_page(stack.server.http_url)
        await cdp.wait_for(
            "window.bridgeDemo && bridgeDemo.state === 'ready'", timeout=15, what="session.ready"
        )
        await cdp.evaluate("document.getElementById('text').focus()")
        await cdp.call("Input.insertText", {"text": "My name is Ada."})
        await cdp.evaluate("document.getElementById('send').click()", gesture=True)
        await cdp.wait_for(
            "Object.values(bridgeDemo.responses)[0]?.result !== undefined",
            timeout=15,
            what="the first reply",
        )
        for session in list(stack.server.sessions):  # the connection drops
            await session.ws.close()
        await cdp.wait_for("bridgeDemo.state === 'closed'", timeout=10, what="the close")
        await cdp.evaluate("document.getElementById('reconnect').click()", gesture=True)
        await cdp.wait_for("bridgeDemo.resumed === 2", timeout=10, what="the history back")
        shown = await cdp.evaluate(
            "[...document.querySelectorAll('.msg .text')].map((e) => e.textContent)"
        )
        await cdp.evaluate("document.getElementById('text').focus()")
        await cdp.call("Input.insertText", {"text": "What is my name?"})
        await cdp.evaluate("document.getElementById('send').click()", gesture=True)
        await cdp.wait_for(
            "Object.values(bridgeDemo.responses)[1]?.result !== undefined",
            timeout=15,
            what="the next reply",
        )
        with_history = stack.fake.requests[-1]["messages"]
    assert shown == ["My name is Ada.", "Nice to meet you."]
    users = [m["content"] for m in with_history if m["role"] == "user"]
    assert users == ["My name is Ada.", "What is my name?"]
