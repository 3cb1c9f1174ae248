// The bridge demo page: one conversation over the bridge serve WebSocket protocol
// (docs/protocol.md). Text goes up as user.message; the reply's text streams back as
// text.delta and its speech as binary PCM16 frames. "Speak this text" sends the page's own
// text instead (text.append pieces, then text.done: a speak response, no chat model); its
// text is shown from the segment events. Audio is played gaplessly with the Web Audio API
// (an AudioWorklet; precisely scheduled buffers where worklets are unavailable). What has
// really been played is acknowledged with playback.ack, so the server's history holds what
// the listener heard. The caption under a reply highlights the sentence being spoken, from
// the segment.timing events (where each segment's audio lies in the response's samples) and
// the samples played. Counters live on window.bridgeDemo (the browser test reads them).
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  const ACK_INTERVAL_MS = 100;

  // The token may come in the page's URL (?token=...); keep it in memory only.
  const params = new URLSearchParams(location.search);
  const token = params.get("token");
  if (token !== null) {
    params.delete("token");
    const rest = params.toString();
    history.replaceState(null, "", location.pathname + (rest ? "?" + rest : ""));
  }
  const wsUrl =
    (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws" +
    (token ? "?token=" + encodeURIComponent(token) : "");

  const demo = {
    resumed: null, // turns of history a session.resume brought back
    state: "connecting",
    session: null,
    closeCode: null,
    framesReceived: 0,
    framesDropped: 0,
    samplesReceived: 0,
    samplesScheduled: 0,
    samplesPlayed: 0,
    acksSent: 0,
    underruns: 0,
    interruptions: 0,
    responses: {},
    errors: [],
    player: null,
    firstAudioMs: null,
    speaking: null, // {rid, index} of the segment whose audio is playing
  };
  window.bridgeDemo = demo;

  // ---- audio --------------------------------------------------------------------------

  function toFloat32(buffer) {
    const n = buffer.byteLength >> 1;
    const out = new Float32Array(n);
    if (LITTLE_ENDIAN) {
      const pcm = new Int16Array(buffer, 0, n);
      for (let i = 0; i < n; i++) out[i] = pcm[i] / 32768;
    } else {
      const view = new DataView(buffer);
      for (let i = 0; i < n; i++) out[i] = view.getInt16(2 * i, true) / 32768;
    }
    return out;
  }

  // Plays through the pcm-player AudioWorklet: sample-exact concatenation, exact counts.
  class WorkletPlayer {
    constructor(ctx) {
      this.kind = "worklet";
      this.ctx = ctx;
      this.onprogress = null;
      this.node = new AudioWorkletNode(ctx, "pcm-player", {
        numberOfInputs: 0,
        numberOfOutputs: 1,
        outputChannelCount: [1],
      });
      this.node.connect(ctx.destination);
      this.node.port.onmessage = (event) => {
        if (this.onprogress) this.onprogress(event.data);
      };
    }
    push(rid, samples) {
      this.node.port.postMessage({ type: "chunk", rid, samples }, [samples.buffer]);
    }
    end(rid) {
      this.node.port.postMessage({ type: "end", rid });
    }
    flush() {
      this.node.port.postMessage({ type: "flush" });
    }
    close() {
      this.node.disconnect();
      return this.ctx.close();
    }
  }

  // Fallback without AudioWorklet (e.g. a page served over plain http from another host):
  // each chunk is an AudioBufferSourceNode started exactly where the previous one ends.
  class ScheduledPlayer {
    constructor(ctx) {
      this.kind = "scheduled";
      this.ctx = ctx;
      this.onprogress = null;
      this.gain = ctx.createGain();
      this.gain.connect(ctx.destination);
      this.next = 0;
      this.items = []; // {rid, start, frames, node}
      this.played = new Map();
      this.ended = new Set();
      this.lastRid = null;
      this.underruns = 0;
      this.timer = setInterval(() => this.tick(), 40);
    }
    push(rid, samples) {
      const ctx = this.ctx;
      const buffer = ctx.createBuffer(1, samples.length, ctx.sampleRate);
      buffer.copyToChannel(samples, 0);
      const node = ctx.createBufferSource();
      node.buffer = buffer;
      node.connect(this.gain);
      const now = ctx.currentTime;
      if (this.next < now + 0.01) {
        // The schedule ran dry: a gap inside a response is an underrun.
        if (this.next > 0 && rid === this.lastRid && !this.ended.has(rid)) this.underruns += 1;
        this.next = now + 0.12; // a small jitter buffer before (re)starting
      }
      node.start(this.next);
      this.items.push({ rid, start: this.next, frames: samples.length, node });
      this.next += samples.length / ctx.sampleRate;
      this.lastRid = rid;
    }
    end(rid) {
      this.ended.add(rid);
    }
    count(now) {
      const rate = this.ctx.sampleRate;
      const keep = [];
      for (const item of this.items) {
        const done = Math.max(0, Math.min(item.frames, Math.floor((now - item.start) * rate)));
        if (done >= item.frames) {
          this.played.set(item.rid, (this.played.get(item.rid) || 0) + item.frames);
        } else {
          keep.push(item);
        }
      }
      this.items = keep;
      const played = {};
      for (const [rid, n] of this.played) played[rid] = n;
      for (const item of keep) {
        const done = Math.max(0, Math.floor((now - item.start) * rate));
        played[item.rid] = (played[item.rid] || 0) + Math.min(done, item.frames);
      }
      let queued = 0;
      for (const item of keep) queued += item.frames;
      return { type: "progress", played, underruns: this.underruns, queued };
    }
    tick() {
      if (this.onprogress) this.onprogress(this.count(this.ctx.currentTime));
    }
    flush() {
      const now = this.ctx.currentTime;
      const g = this.gain.gain;
      g.cancelScheduledValues(now);
      g.setValueAtTime(1, now);
      g.linearRampToValueAtTime(0, now + 0.01);
      const report = this.count(now + 0.01);
      for (const item of this.items) {
        try {
          item.node.stop(now + 0.012);
        } catch (_err) {
          /* already stopped */
        }
      }
      this.items = [];
      for (const [rid, n] of Object.entries(report.played)) this.played.set(rid, n);
      g.setValueAtTime(1, now + 0.03);
      this.next = 0;
      if (this.onprogress) this.onprogress({ ...report, queued: 0 });
    }
    close() {
      clearInterval(this.timer);
      return this.ctx.close();
    }
  }

  let player = null;
  let playerPromise = null;

  async function ensurePlayer(rate) {
    if (player && player.ctx.sampleRate === rate) {
      if (player.ctx.state !== "running") await player.ctx.resume();
      return player;
    }
    if (playerPromise) return playerPromise;
    playerPromise = (async () => {
      if (player) await player.close();
      player = null;
      const ctx = new AudioContext({ sampleRate: rate, latencyHint: "interactive" });
      let made;
      try {
        if (!ctx.audioWorklet) throw new Error("no AudioWorklet");
        await ctx.audioWorklet.addModule("/static/player-worklet.js");
        made = new WorkletPlayer(ctx);
      } catch (_err) {
        made = new ScheduledPlayer(ctx);
      }
      made.onprogress = onProgress;
      if (ctx.state !== "running") await ctx.resume();
      player = made;
      demo.player = made.kind;
      $("player").textContent = made.kind + " @ " + rate + " Hz";
      return made;
    })();
    try {
      return await playerPromise;
    } finally {
      playerPromise = null;
    }
  }

  // ---- conversation state ----------------------------------------------------------------

  let ws = null;
  let current = null; // the response being received: {rid, el, textEl, text}
  let audioRid = null; // response of the incoming binary frames (latest audio.start)
  let dropRid = null; // a cancelled response: its late frames are dropped
  let sentAt = null; // performance.now() when the last user.message left
  const acked = new Map(); // rid -> samples acknowledged
  const playedBy = new Map(); // rid -> samples played (latest report)
  let lastAckAt = 0;
  let queued = 0;

  function send(obj) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(obj));
  }

  function setStatus(text, cls) {
    const el = $("status");
    el.textContent = text;
    el.className = "status " + (cls || "");
  }

  function addMessage(role, text) {
    const el = document.createElement("div");
    el.className = "msg " + role;
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = role === "user" ? "You" : role === "assistant" ? "Assistant" : "!";
    const body = document.createElement("span");
    body.className = "text";
    body.textContent = text;
    el.append(who, body);
    $("log").append(el);
    $("log").scrollTop = $("log").scrollHeight;
    return { el, textEl: body };
  }

  function updateButtons() {
    const ready = demo.state === "ready";
    const chat = ready && demo.session.chat !== false;
    $("text").disabled = !chat;
    $("send").disabled = !chat;
    $("speak-text").disabled = !ready;
    $("speak").disabled = !ready;
    $("stop").disabled = !(ready && (current !== null || queued > 0));
  }

  function seconds(samples) {
    const rate = demo.session ? demo.session.sample_rate : 24000;
    return (samples / rate).toFixed(1) + " s";
  }

  function sendAck(rid, force) {
    const samples = playedBy.get(rid) || 0;
    if (samples <= (acked.get(rid) || 0)) return;
    const now = performance.now();
    if (!force && now - lastAckAt < ACK_INTERVAL_MS) return;
    lastAckAt = now;
    acked.set(rid, samples);
    send({ type: "playback.ack", response_id: rid, samples });
    demo.acksSent += 1;
  }

  function onProgress(report) {
    let total = 0;
    for (const [rid, n] of Object.entries(report.played)) {
      playedBy.set(rid, n);
      const r = demo.responses[rid];
      if (r) r.played = n;
    }
    for (const r of Object.values(demo.responses)) total += r.played || 0;
    demo.samplesPlayed = total;
    demo.underruns = report.underruns;
    queued = report.queued;
    $("played").textContent = seconds(total);
    $("underruns").textContent = String(report.underruns);
    highlight();
    if (audioRid !== null && audioRid !== dropRid) {
      const r = demo.responses[audioRid];
      sendAck(audioRid, r !== undefined && (r.played || 0) >= r.samples);
    }
    updateButtons();
  }

  // The caption: one span per segment; the one whose audio is playing is highlighted.
  function addSegment(ev) {
    const r = demo.responses[ev.response_id];
    if (!r) return;
    r.segments += 1;
    if (!current || current.rid !== ev.response_id) return;
    if (!current.captionEl) {
      current.captionEl = document.createElement("div");
      current.captionEl.className = "caption";
      current.el.append(current.captionEl);
    }
    const span = document.createElement("span");
    span.className = "seg";
    span.dataset.index = String(ev.index);
    span.textContent = (ev.index > 0 ? " " : "") + ev.text;
    current.captionEl.append(span);
    current.segmentEls[ev.index] = span;
  }

  function highlight() {
    const rid = audioRid;
    const r = rid === null ? undefined : demo.responses[rid];
    if (!r || !current || current.rid !== rid) return;
    const played = playedBy.get(rid) || 0;
    let index = null;
    for (const [i, t] of Object.entries(r.timings)) {
      if (t.start <= played && played < t.end) index = Number(i);
    }
    if (index === null || (demo.speaking && demo.speaking.rid === rid && demo.speaking.index === index)) return;
    for (const el of Object.values(current.segmentEls)) el.classList.remove("speaking");
    const el = current.segmentEls[index];
    if (el) el.classList.add("speaking");
    demo.speaking = { rid, index };
    r.highlighted.push(index);
  }

  // Stop: tell the server what was heard, cancel, and silence the player at once.
  function stopSpeaking() {
    const rid = current ? current.rid : audioRid;
    if (rid !== null) {
      sendAck(rid, true);
      send({ type: "response.cancel", response_id: rid });
      dropRid = rid;
    }
    if (player) player.flush();
  }

  function onEvent(ev) {
    switch (ev.type) {
      case "session.ready":
        onReady(ev);
        break;
      case "response.started":
        current = {
          rid: ev.response_id,
          text: "",
          deltas: 0,
          captionEl: null,
          segmentEls: {},
          ...addMessage("assistant", ""),
        };
        demo.responses[ev.response_id] = {
          text: "",
          segments: 0,
          timings: {},
          highlighted: [],
          samples: 0,
          played: 0,
          state: "started",
        };
        break;
      case "text.delta":
        if (current && current.rid === ev.response_id) {
          current.deltas += 1;
          current.text += ev.text;
          current.textEl.textContent = current.text;
          demo.responses[ev.response_id].text = current.text;
          $("log").scrollTop = $("log").scrollHeight;
        }
        break;
      case "segment":
        addSegment(ev);
        if (current && current.rid === ev.response_id && current.deltas === 0) {
          // A speak response: no text.delta; its text is its segments (the captions).
          current.el.querySelector(".who").textContent = "Spoken";
          current.el.classList.add("spoken");
          current.text += (current.text ? " " : "") + ev.text;
          demo.responses[ev.response_id].kind = "speak";
          demo.responses[ev.response_id].text = current.text;
        }
        break;
      case "segment.timing":
        if (demo.responses[ev.response_id]) {
          demo.responses[ev.response_id].timings[ev.index] = {
            start: ev.start,
            end: ev.end,
            estimated: ev.estimated,
          };
        }
        break;
      case "audio.start":
        audioRid = ev.response_id;
        break;
      case "response.interrupted":
        onInterrupted(ev);
        break;
      case "response.done":
        onDone(ev);
        break;
      case "error":
        // expired: this session is a new conversation, with its own token
        if (ev.code === "resume_not_found" && demo.session) resumeToken = demo.session.resume_token;
        demo.errors.push(ev.code);
        addMessage("error", ev.code + ": " + ev.message);
        break;
      default:
        break;
    }
    updateButtons();
  }

  // Reconnecting: the first session.ready of the new connection is answered with
  // session.resume (the token of the conversation we had), and the history it sends back is
  // shown again. The token is kept in memory only.
  let resumeToken = null;
  let resuming = false;

  function onReady(ev) {
    if (resuming && resumeToken && ev.resume_token !== resumeToken && !ev.history) {
      resuming = false;
      send({ type: "session.resume", resume_token: resumeToken });
    }
    if (ev.history) {
      $("log").replaceChildren();
      for (const turn of ev.history) {
        const shown = addMessage(turn.role, turn.text);
        if (turn.interrupted) shown.el.classList.add("interrupted");
      }
      demo.resumed = ev.history.length;
    }
    if (ev.resume_token) resumeToken = ev.resume_token;
    demo.session = ev;
    demo.state = "ready";
    setStatus("connected · " + ev.model, "ok");
    for (const [id, list, value] of [
      ["voice", ev.voices, ev.voice],
      ["prompt", ev.prompts, ev.prompt],
    ]) {
      const select = $(id);
      select.replaceChildren(
        ...list.map((name) => {
          const opt = document.createElement("option");
          opt.value = name;
          opt.textContent = name;
          return opt;
        }),
      );
      select.value = value;
      select.disabled = false;
    }
  }

  function onInterrupted(ev) {
    demo.interruptions += 1;
    const r = demo.responses[ev.response_id];
    if (r) {
      r.state = "interrupted";
      r.spoken = ev.spoken_text;
    }
    if (current && current.rid === ev.response_id) {
      const full = current.text;
      const heard = ev.spoken_text;
      current.textEl.replaceChildren();
      const heardEl = document.createElement("span");
      heardEl.textContent = heard;
      const restEl = document.createElement("span");
      restEl.className = "unheard";
      restEl.textContent = heard && full.startsWith(heard) ? full.slice(heard.length) : "";
      const note = document.createElement("span");
      note.className = "note";
      note.textContent = "(interrupted)";
      current.textEl.append(heardEl, restEl, note);
    }
  }

  function onDone(ev) {
    const r = demo.responses[ev.response_id];
    if (r) {
      r.result = ev.result;
      if (r.state !== "interrupted") r.state = "done";
    }
    if (ev.result && ev.result.first_audio_ms != null) {
      $("server-ttfa").textContent = Math.round(ev.result.first_audio_ms) + " ms";
    }
    if (player) player.end(ev.response_id);
    if (current && current.rid === ev.response_id) {
      for (const el of Object.values(current.segmentEls)) el.classList.remove("speaking");
      current = null;
    }
    if (demo.speaking && demo.speaking.rid === ev.response_id) demo.speaking = null;
  }

  function onAudio(buffer) {
    if (audioRid === null || audioRid === dropRid || !player) {
      demo.framesDropped += 1;
      return;
    }
    const r = demo.responses[audioRid];
    const samples = toFloat32(buffer);
    demo.framesReceived += 1;
    demo.samplesReceived += samples.length;
    if (r) {
      if (r.samples === 0 && sentAt !== null) {
        const ms = Math.round(performance.now() - sentAt);
        r.firstAudioMs = ms;
        demo.firstAudioMs = ms;
        $("ttfa").textContent = ms + " ms";
      }
      r.samples += samples.length;
    }
    $("received").textContent = seconds(demo.samplesReceived);
    const count = samples.length; // push() transfers the buffer
    player.push(audioRid, samples);
    demo.samplesScheduled += count;
  }

  // ---- connection ---------------------------------------------------------------------

  function connect() {
    $("reconnect").hidden = true;
    demo.state = "connecting";
    setStatus("connecting…");
    ws = new WebSocket(wsUrl);
    ws.binaryType = "arraybuffer";
    ws.onmessage = (event) => {
      if (typeof event.data === "string") onEvent(JSON.parse(event.data));
      else onAudio(event.data);
    };
    ws.onclose = (event) => {
      demo.state = "closed";
      demo.closeCode = event.code;
      current = null;
      if (player) player.flush();
      const why = event.reason ? " (" + event.reason + ")" : "";
      setStatus("disconnected: " + event.code + why, "bad");
      $("reconnect").hidden = false;
      updateButtons();
    };
  }

  $("ask").addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = $("text").value.trim();
    if (!text || demo.state !== "ready") return;
    $("text").value = "";
    await ensurePlayer(demo.session.sample_rate);
    if (current || queued > 0) stopSpeaking(); // the server interrupts it too
    send({ type: "user.message", text });
    sentAt = performance.now();
    addMessage("user", text);
    updateButtons();
  });
  $("speak-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = $("speak-text").value;
    if (!text.trim() || demo.state !== "ready") return;
    $("speak-text").value = "";
    await ensurePlayer(demo.session.sample_rate);
    if (current || queued > 0) stopSpeaking(); // the new text replaces what is playing
    const size = demo.session.limits.max_text_chars;
    for (let i = 0; i < text.length; i += size) {
      send({ type: "text.append", text: text.slice(i, i + size) });
    }
    send({ type: "text.done" });
    sentAt = performance.now();
    updateButtons();
  });
  $("stop").addEventListener("click", () => {
    stopSpeaking();
    updateButtons();
  });
  $("voice").addEventListener("change", () => send({ type: "session.configure", voice: $("voice").value }));
  $("prompt").addEventListener("change", () => send({ type: "session.configure", prompt: $("prompt").value }));
  $("reconnect").addEventListener("click", () => {
    resuming = true;
    connect();
  });

  connect();
})();
