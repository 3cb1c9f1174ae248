// AudioWorklet processor of the bridge demo: plays queued PCM chunks back to back, sample
// exact (no gaps or clicks at chunk seams), and counts what it really played per response.
//
// Messages in:  {type: "chunk", rid, samples: Float32Array}   queue audio of response rid
//               {type: "end", rid}                             rid has no more audio coming
//               {type: "flush"}                                stop now: fade out, drop queue
// Messages out: {type: "progress", played: {rid: samples}, underruns, queued}
//               (every ~40 ms while playing, and right after a flush or when a response ends)

const FADE_SAMPLES = 256; // about 10 ms at 24 kHz: stopping mid-wave must not click
const REPORT_EVERY = 1024; // samples between progress reports
// Jitter buffer: after silence, start once this much audio is queued, or after waiting as
// long (a short reply may never fill it). Costs at most this much latency; saves stutter.
const PREBUFFER_SECONDS = 0.12;

class PcmPlayer extends AudioWorkletProcessor {
  constructor() {
    super();
    this.queue = []; // [{rid, samples, offset}]
    this.queued = 0; // samples waiting
    this.played = new Map(); // rid -> samples played
    this.ended = new Set(); // rids whose last chunk is queued
    this.underruns = 0;
    this.starved = true; // nothing to play right now
    this.fade = 0; // samples of fade-out left (flush in progress)
    this.fadeTotal = 0;
    this.starvedRid = undefined; // response that ran dry before its end
    this.lastRid = undefined;
    this.waited = 0; // samples of silence output while prebuffering
    this.prebuffer = Math.round(PREBUFFER_SECONDS * sampleRate);
    this.sinceReport = 0;
    this.dirty = false;
    this.port.onmessage = (event) => this.onMessage(event.data);
  }

  onMessage(msg) {
    if (msg.type === "chunk") {
      // Audio of a response that had run dry earlier: the listener heard a gap.
      if (this.starved && msg.rid === this.starvedRid) this.underruns += 1;
      this.starvedRid = undefined;
      this.queue.push({ rid: msg.rid, samples: msg.samples, offset: 0 });
      this.queued += msg.samples.length;
    } else if (msg.type === "end") {
      this.ended.add(msg.rid);
      if (this.queue.length === 0) this.report();
    } else if (msg.type === "flush") {
      this.fade = this.queue.length > 0 ? Math.min(FADE_SAMPLES, this.queued) : 0;
      this.fadeTotal = this.fade;
      if (this.fade === 0) this.drop();
    }
  }

  drop() {
    for (const item of this.queue) this.ended.add(item.rid);
    this.queue = [];
    this.queued = 0;
    this.fade = 0;
    this.starved = true;
    this.starvedRid = undefined;
    this.report();
  }

  report() {
    const played = {};
    for (const [rid, n] of this.played) played[rid] = n;
    this.port.postMessage({
      type: "progress",
      played,
      underruns: this.underruns,
      queued: this.queued,
    });
    this.sinceReport = 0;
    this.dirty = false;
    // Keep only the responses still playing or just reported.
    if (this.played.size > 8) {
      for (const rid of [...this.played.keys()].slice(0, this.played.size - 8)) {
        this.played.delete(rid);
      }
    }
  }

  process(_inputs, outputs) {
    const out = outputs[0][0];
    let i = 0;
    if (this.starved && this.queue.length > 0 && this.fade === 0) {
      if (this.queued < this.prebuffer && this.waited < this.prebuffer) {
        this.waited += out.length;
        out.fill(0);
        for (let c = 1; c < outputs[0].length; c++) outputs[0][c].fill(0);
        return true;
      }
      this.waited = 0;
    }
    while (i < out.length && this.queue.length > 0) {
      const item = this.queue[0];
      const take = Math.min(out.length - i, item.samples.length - item.offset);
      if (this.fade > 0) {
        // Fade out linearly across the remaining fade samples, then drop everything.
        const n = Math.min(take, this.fade);
        for (let k = 0; k < n; k++) {
          out[i + k] = item.samples[item.offset + k] * ((this.fade - k) / (this.fadeTotal + 1));
        }
        this.count(item.rid, n);
        i += n;
        item.offset += n;
        this.queued -= n;
        this.fade -= n;
        if (this.fade === 0) {
          this.drop();
          break;
        }
      } else {
        out.set(item.samples.subarray(item.offset, item.offset + take), i);
        this.count(item.rid, take);
        i += take;
        item.offset += take;
        this.queued -= take;
      }
      if (item.offset >= item.samples.length) this.queue.shift();
      this.starved = false;
    }
    if (i < out.length) {
      out.fill(0, i);
      if (!this.starved) {
        // Ran dry: the response ended, or its next audio is late (counted if it comes).
        this.starved = true;
        this.starvedRid = this.ended.has(this.lastRid) ? undefined : this.lastRid;
        this.report();
      }
    }
    for (let c = 1; c < outputs[0].length; c++) outputs[0][c].set(out);
    if (this.dirty && this.sinceReport >= REPORT_EVERY) this.report();
    return true;
  }

  count(rid, n) {
    this.played.set(rid, (this.played.get(rid) || 0) + n);
    this.lastRid = rid;
    this.sinceReport += n;
    this.dirty = true;
  }
}

registerProcessor("pcm-player", PcmPlayer);
