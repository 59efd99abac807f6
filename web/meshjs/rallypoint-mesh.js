// rallypoint-mesh.js: a reference client of Rallypoint's signaling protocol
// (docs/protocol.md, the subset a game needs: hello, join, signal) and of its
// WebRTC peer mesh (docs/mesh-wire.md), for web games not written in Go.
// An ES module with no dependencies and no build step.
//
//   import { connect, Channel } from "./rallypoint-mesh.js";
//   const mesh = await connect({ url: "wss://host/ws", room: "duel",
//     onMessage(peer, channel, bytes) { ... },
//     onPeer(peer, state, reason) { ... } });   // "connected", "interrupted", ...
//   await mesh.waitConnected(1);
//   mesh.send(peerId, Channel.Unreliable, new Uint8Array([1, 2, 3]));
//   mesh.close();
//
// It speaks the same wire as the Go mesh (netcode/mesh), native or js/wasm,
// and as other pages using this module: the peer with the smaller id offers,
// the reliable channel is pre-negotiated (id 0), the others are opened
// in-band by the offering side and matched by label, control pings are
// answered, reliable messages over 16 KiB are chunked.

export const SIGNAL_VERSION = 2;

/** Channel numbers, as netcode.Channel. */
export const Channel = Object.freeze({ Reliable: 0, Unreliable: 1, Sequenced: 2 });

const CONTROL = 3;
const LABELS = ["rp-reliable", "rp-unreliable", "rp-sequenced", "rp-control"];

// Reliable and control frame types (docs/mesh-wire.md).
const F_MESSAGE = 0, F_FIRST = 1, F_NEXT = 2, F_BYE = 3, F_PING = 4, F_PONG = 5;
const BYE_LEFT = 1, BYE_KICKED = 2;

const CHUNK = 16 << 10;
const MAX_DATAGRAM = 1152; // netcode.MaxDatagramMessage
const PING_SIZE = 15;

const DEFAULTS = {
  interruptAfter: 500, // ms without a packet: interrupted
  disconnectAfter: 2500, // ms without a packet: disconnected
  pingInterval: 100, // ms between pings while this side sends nothing else
  busyPingInterval: 2000, // ms between pings while this side sends messages
  connectTimeout: 30000, // ms to connect before giving up on a peer
  reconnectAfter: 1000, // ms before the offering side tries a lost peer again
  // maxRetransmits of the unreliable and sequenced channels when this side
  // offers: 2, the value a Go offerer signals (pion counts the first
  // transmission, so 2 is one retransmission there; a browser sends a
  // lost message up to twice more). docs/mesh-wire.md, section 3.
  datagramMaxRetransmits: 2,
  maxMessageSize: 4 << 20, // largest reliable message
};

/**
 * Signaling is the client side of docs/protocol.md: one WebSocket, JSON
 * envelopes, requests answered by cid.
 */
export class Signaling {
  constructor(ws) {
    this.ws = ws;
    this.nextCid = 1;
    this.pending = new Map();
    this.id = "";
    this.iceServers = [];
    this.onSignal = null; // (from, data)
    this.onPeer = null; // (peer, joined)
    this.onClose = null;
    ws.onmessage = (ev) => this._dispatch(ev.data);
    ws.onclose = () => {
      for (const p of this.pending.values()) p.reject(new Error("signaling: connection closed"));
      this.pending.clear();
      if (this.onClose) this.onClose();
    };
  }

  /** open dials url, says hello and resolves once welcomed. */
  static async open(url, token) {
    const u = new URL(url, typeof location !== "undefined" ? location.href : undefined);
    if (token) u.searchParams.set("token", token);
    const ws = new WebSocket(u.toString());
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = () => reject(new Error("signaling: cannot connect to " + u));
    });
    const s = new Signaling(ws);
    const welcome = await s.request({ type: "hello", data: { versions: [1] } });
    s.id = welcome.data.id;
    s.iceServers = welcome.data.ice_servers || [];
    return s;
  }

  request(env) {
    const cid = String(this.nextCid++);
    env.cid = cid;
    return new Promise((resolve, reject) => {
      this.pending.set(cid, { resolve, reject });
      this.ws.send(JSON.stringify(env));
    });
  }

  /** join enters a room and resolves with the other members' ids. */
  async join(room) {
    const r = await this.request({ type: "join", room });
    this.room = r.room;
    return (r.data && r.data.peers) || [];
  }

  /** signal relays data (a JSON value) to a peer of the room. */
  signal(to, data) {
    return this.request({ type: "signal", to, data });
  }

  close() {
    try { this.ws.close(1000); } catch (e) { /* already closed */ }
  }

  _dispatch(text) {
    let env;
    try { env = JSON.parse(text); } catch (e) { return; }
    if (env.cid && this.pending.has(env.cid)) {
      const p = this.pending.get(env.cid);
      this.pending.delete(env.cid);
      if (env.type === "error") p.reject(new Error(`signaling: ${env.data.code}: ${env.data.message}`));
      else p.resolve(env);
      return;
    }
    const d = env.data || {};
    switch (env.type) {
      case "signal":
        if (this.onSignal) this.onSignal(env.from, d);
        break;
      case "joined": // pushed when a service moves us into a room
        this.room = env.room;
        for (const p of d.peers || []) if (p !== this.id && this.onPeer) this.onPeer(p, true);
        break;
      case "peer_joined":
        if (this.onPeer) this.onPeer(d.peer, true);
        break;
      case "peer_left":
        if (this.onPeer) this.onPeer(d.peer, false);
        break;
      case "error":
        console.warn("signaling error", d.code, d.message);
        break;
    }
  }
}

/** connect dials the signaling server, joins room and starts a Mesh. */
export async function connect(opts) {
  const sig = await Signaling.open(opts.url, opts.token);
  const mesh = new Mesh(sig, opts);
  const peers = await sig.join(opts.room);
  for (const p of peers) mesh._peerJoined(p);
  return mesh;
}

/**
 * Mesh connects this page to every other member of its signaling room.
 * Options: onMessage(peer, channel, Uint8Array), onPeer(peer, state,
 * reason), iceServers (added to the server's), and the timings of DEFAULTS.
 */
export class Mesh {
  constructor(sig, opts = {}) {
    this.sig = sig;
    this.id = sig.id;
    this.opts = { ...DEFAULTS, ...opts };
    this.iceServers = [...(sig.iceServers || []), ...(opts.iceServers || [])];
    this.peers = new Map();
    this.closed = false;
    this.badSignals = 0;
    this._waiters = [];
    sig.onSignal = (from, data) => this._signal(from, data);
    sig.onPeer = (peer, joined) => (joined ? this._peerJoined(peer) : this._peerLeft(peer));
    this._timer = setInterval(() => this._tick(), 20);
  }

  /** connected lists the peers whose channels are open. */
  connected() {
    return [...this.peers.values()].filter((p) => p.state === "connected" || p.state === "interrupted").map((p) => p.id);
  }

  /** waitConnected resolves once n peers are connected. */
  waitConnected(n, timeoutMs = 30000) {
    return new Promise((resolve, reject) => {
      const w = { n, resolve, reject };
      w.timer = setTimeout(() => {
        this._waiters = this._waiters.filter((x) => x !== w);
        reject(new Error(`mesh: ${this.connected().length} of ${n} peers connected after ${timeoutMs} ms`));
      }, timeoutMs);
      this._waiters.push(w);
      this._checkWaiters();
    });
  }

  /**
   * send sends a message (Uint8Array, ArrayBuffer or string) to a
   * connected peer on a channel. It throws when the peer is not connected
   * or the message is too large for the channel.
   */
  send(peer, channel, data) {
    const p = this.peers.get(peer);
    if (!p || !p.open) throw new Error(`mesh: peer ${peer} not connected`);
    const b = bytes(data);
    const c = p.conn;
    switch (channel) {
      case Channel.Reliable: {
        if (b.length > this.opts.maxMessageSize) throw new Error(`mesh: ${b.length}-byte message over ${this.opts.maxMessageSize}`);
        if (b.length <= CHUNK) {
          c.dcs[0].send(concat([F_MESSAGE], b));
        } else {
          const first = new Uint8Array(5 + CHUNK);
          first[0] = F_FIRST;
          new DataView(first.buffer).setUint32(1, b.length);
          first.set(b.subarray(0, CHUNK), 5);
          c.dcs[0].send(first);
          for (let off = CHUNK; off < b.length; off += CHUNK) {
            c.dcs[0].send(concat([F_NEXT], b.subarray(off, Math.min(off + CHUNK, b.length))));
          }
        }
        break;
      }
      case Channel.Unreliable:
        if (b.length > MAX_DATAGRAM) throw new Error(`mesh: ${b.length}-byte datagram over ${MAX_DATAGRAM}`);
        c.dcs[1].send(b);
        break;
      case Channel.Sequenced: {
        if (b.length > MAX_DATAGRAM) throw new Error(`mesh: ${b.length}-byte datagram over ${MAX_DATAGRAM}`);
        c.seqOut = (c.seqOut + 1) >>> 0;
        const f = new Uint8Array(4 + b.length);
        new DataView(f.buffer).setUint32(0, c.seqOut);
        f.set(b, 4);
        c.dcs[2].send(f);
        break;
      }
      default:
        throw new Error(`mesh: unknown channel ${channel}`);
    }
    p.lastSend = now();
  }

  /**
   * stats returns the peer's state, smoothed RTT in ms and loss each way
   * (fractions, over the last 64 pings).
   */
  stats(peer) {
    const p = this.peers.get(peer);
    return p ? { state: p.state, rtt: p.rtt, pongs: p.pongs, lossIn: p.lossIn, lossOut: p.lossOut } : null;
  }

  /** close says goodbye to every peer and leaves the signaling server. */
  close() {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this._timer);
    for (const p of this.peers.values()) {
      if (p.open) {
        try { p.conn.dcs[0].send(new Uint8Array([F_BYE, BYE_LEFT])); } catch (e) { /* closing */ }
      }
      this._closeConn(p.conn, 300); // let the goodbye leave first
    }
    this.peers.clear();
    this.sig.close();
  }

  // --- peers and signals ---

  // _emit reports a change: "connecting", "connected", "interrupted",
  // "resumed" (the state becomes "connected" again) or "disconnected".
  _emit(p, state, reason) {
    p.state = state === "resumed" ? "connected" : state;
    if (this.opts.onPeer) {
      try { this.opts.onPeer(p.id, state, reason); } catch (e) { console.error(e); }
    }
    this._checkWaiters();
  }

  _checkWaiters() {
    const n = this.connected().length;
    this._waiters = this._waiters.filter((w) => {
      if (n < w.n) return true;
      clearTimeout(w.timer);
      w.resolve();
      return false;
    });
  }

  _sendSignal(to, s) {
    s.v = SIGNAL_VERSION;
    this.sig.signal(to, s).catch((e) => console.warn("mesh: signal to", to, e.message));
  }

  _peerJoined(id) {
    if (id === this.id || this.closed) return;
    this.members = this.members || new Set();
    this.members.add(id);
    this._ensurePeer(id);
  }

  _peerLeft(id) {
    if (this.members) this.members.delete(id);
    const p = this.peers.get(id);
    // Once connected, the data path decides: the rendezvous point going
    // away must not end a match.
    if (p && p.state === "connecting") this._disconnect(p, "left", false);
  }

  _ensurePeer(id) {
    let p = this.peers.get(id);
    if (p) return p;
    p = {
      id, offerer: this.id < id, state: "connecting", conn: null, gen: this._lastGen(id),
      created: now(), open: false, lastRecv: 0, lastSend: 0, lastPing: 0, pingSeq: 0,
      rtt: 0, pongs: 0, lossIn: 0, lossOut: 0, pingMask: 0n, pingSpan: 0, lastPingIn: 0,
    };
    this.peers.set(id, p);
    this._emit(p, "connecting");
    if (p.offerer) this._startOffer(p).catch((e) => console.warn("mesh: offer to", id, e.message));
    else this._sendSignal(id, { t: "hello" });
    return p;
  }

  _lastGen(id) {
    this.gens = this.gens || new Map();
    return this.gens.get(id) || 0;
  }

  _newConn(p, gen) {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    const c = { gen, pc, dcs: [null, null, null, null], opened: 0, pending: [], cands: [], offer: null, answer: null,
      remoteOffer: "", offerSentAt: 0, offerSends: 0, started: now(), failedAt: 0, seqOut: 0, dead: false };
    const watch = (idx, dc) => {
      dc.binaryType = "arraybuffer";
      const onOpen = () => this._channelOpen(p, c, idx, dc);
      if (dc.readyState === "open") onOpen();
      else dc.onopen = onOpen;
    };
    const rexmit = this.opts.datagramMaxRetransmits;
    watch(0, pc.createDataChannel(LABELS[0], { negotiated: true, id: 0, ordered: true }));
    if (p.offerer) {
      watch(1, pc.createDataChannel(LABELS[1], { ordered: false, maxRetransmits: rexmit }));
      watch(2, pc.createDataChannel(LABELS[2], { ordered: false, maxRetransmits: rexmit }));
      watch(3, pc.createDataChannel(LABELS[3], { ordered: false, maxRetransmits: 0 }));
    } else {
      // In-band channels are matched by label: the offering stack picks ids.
      pc.ondatachannel = (ev) => {
        const idx = LABELS.indexOf(ev.channel.label);
        if (idx <= 0) { ev.channel.close(); return; }
        watch(idx, ev.channel);
      };
    }
    pc.onicecandidate = (ev) => {
      if (c.dead || !ev.candidate || !ev.candidate.candidate) return;
      // Candidates gathered together leave in one signal.
      c.cands.push({ candidate: ev.candidate.candidate, sdpMid: ev.candidate.sdpMid, sdpMLineIndex: ev.candidate.sdpMLineIndex });
      if (c.cands.length === 1) {
        setTimeout(() => {
          if (c.dead || c.cands.length === 0) return;
          this._sendSignal(p.id, { t: "cand", g: c.gen, cands: c.cands.splice(0, 64) });
        }, 0);
      }
    };
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === "failed" && !c.failedAt) c.failedAt = now();
    };
    return c;
  }

  async _startOffer(p) {
    p.gen++;
    this.gens.set(p.id, p.gen);
    const c = this._newConn(p, p.gen);
    this._replaceConn(p, c);
    const offer = await c.pc.createOffer();
    await c.pc.setLocalDescription(offer);
    if (c.dead) return;
    c.offer = { t: "offer", g: c.gen, sdp: c.pc.localDescription.sdp };
    c.offerSentAt = now();
    c.offerSends = 1;
    this._sendSignal(p.id, { ...c.offer });
  }

  _replaceConn(p, c) {
    const old = p.conn;
    p.conn = c;
    p.open = false;
    if (old) this._closeConn(old, 0);
  }

  _closeConn(c, delay) {
    if (!c || c.dead) return;
    c.dead = true;
    setTimeout(() => { try { c.pc.close(); } catch (e) { /* closed */ } }, delay);
  }

  _signal(from, s) {
    if (this.closed || from === this.id) return;
    if (!s || typeof s !== "object" || s.v !== SIGNAL_VERSION) {
      this.badSignals++;
      console.warn("mesh: signal of unsupported version from", from, s && s.v);
      return;
    }
    // Signals are applied one at a time, in arrival order, as the Go
    // mesh's loop does: a repeated offer must not interleave with the
    // first one's answer.
    this._queue = (this._queue || Promise.resolve()).then(() => this._apply(from, s)).catch((e) => {
      this.badSignals++;
      console.warn("mesh: signal", s.t, "from", from, e.message);
    });
  }

  async _apply(from, s) {
    if (s.t === "bye") {
      const p = this.peers.get(from);
      if (p) this._disconnect(p, s.reason === "kicked" ? "kicked by peer" : "left", false);
      return;
    }
    let p;
    if (s.t === "offer" || s.t === "hello") {
      const known = this.peers.has(from);
      p = this._ensurePeer(from);
      if (s.t === "hello" && !known) return; // the offer just went out
    } else {
      p = this.peers.get(from);
    }
    if (!p) return;
    let c = p.conn;
    switch (s.t) {
      case "hello":
        if (p.offerer && c && c.offer && !c.pc.remoteDescription) {
          c.offer.sdp = c.pc.localDescription.sdp;
          c.offerSentAt = now();
          this._sendSignal(p.id, { ...c.offer });
        }
        return;
      case "offer": {
        if (p.offerer) throw new Error("offer from the answering side");
        if (c && s.g > c.gen && p.state !== "connecting") {
          // The peer gave up on the connection we hold and starts over.
          this._disconnect(p, "timed out", false);
          p = this._ensurePeer(from);
          c = null;
        }
        if (!c || s.g > c.gen) {
          p.gen = s.g;
          this.gens.set(p.id, s.g);
          c = this._newConn(p, s.g);
          this._replaceConn(p, c);
        } else if (s.g < c.gen) {
          return; // stale
        } else if (!s.restart && c.answer) {
          this._sendSignal(p.id, { ...c.answer }); // a repeated offer: our answer was lost
          return;
        }
        await c.pc.setRemoteDescription({ type: "offer", sdp: s.sdp });
        await this._flush(c);
        const answer = await c.pc.createAnswer();
        await c.pc.setLocalDescription(answer);
        if (c.dead) return;
        c.remoteOffer = s.sdp;
        c.answer = { t: "answer", g: c.gen, sdp: c.pc.localDescription.sdp };
        this._sendSignal(p.id, { ...c.answer });
        return;
      }
      case "answer":
        if (!p.offerer || !c || s.g !== c.gen || c.pc.signalingState !== "have-local-offer") return;
        await c.pc.setRemoteDescription({ type: "answer", sdp: s.sdp });
        await this._flush(c);
        return;
      case "cand":
        if (!c || s.g !== c.gen) return;
        for (const cand of s.cands || []) {
          const init = { candidate: cand.candidate, sdpMid: cand.sdpMid ?? "0", sdpMLineIndex: cand.sdpMLineIndex ?? 0 };
          if (c.pc.remoteDescription) await c.pc.addIceCandidate(init);
          else c.pending.push(init);
        }
        return;
      default:
        throw new Error(`unknown signal type ${s.t}`);
    }
  }

  async _flush(c) {
    const pending = c.pending;
    c.pending = [];
    for (const init of pending) {
      try { await c.pc.addIceCandidate(init); } catch (e) { /* a stale candidate */ }
    }
  }

  _channelOpen(p, c, idx, dc) {
    if (c.dead || p.conn !== c || c.dcs[idx]) return;
    c.dcs[idx] = dc;
    dc.onmessage = (ev) => this._recv(p, c, idx, new Uint8Array(ev.data));
    dc.onclose = () => {
      if (idx === 0 && !c.dead && p.conn === c) this._disconnect(p, "left", true);
    };
    if (++c.opened < 4) return;
    p.open = true;
    p.lastRecv = now();
    p.asm = null;
    p.lastSeq = null;
    p.connectedOnce = true;
    this._emit(p, "connected");
    this._ping(p);
  }

  _recv(p, c, idx, f) {
    if (c.dead || p.conn !== c) return;
    p.lastRecv = now();
    const deliver = (ch, msg) => {
      if (this.opts.onMessage) {
        try { this.opts.onMessage(p.id, ch, msg); } catch (e) { console.error(e); }
      }
    };
    switch (idx) {
      case 0: {
        if (f.length === 0) return this._protocol(p, "empty frame");
        const t = f[0];
        if (t === F_BYE) {
          this._disconnect(p, f[1] === BYE_KICKED ? "kicked by peer" : "left", false);
          return;
        }
        if (t === F_MESSAGE) {
          if (p.asm) return this._protocol(p, "message inside a chunked message");
          deliver(Channel.Reliable, f.subarray(1));
        } else if (t === F_FIRST) {
          if (p.asm || f.length < 6) return this._protocol(p, "bad first chunk");
          const total = new DataView(f.buffer, f.byteOffset).getUint32(1);
          if (total > this.opts.maxMessageSize || f.length - 5 > total) return this._protocol(p, "bad message size");
          p.asm = { buf: new Uint8Array(total), n: 0 };
          p.asm.buf.set(f.subarray(5));
          p.asm.n = f.length - 5;
        } else if (t === F_NEXT) {
          const a = p.asm;
          if (!a || f.length < 2 || a.n + f.length - 1 > a.buf.length) return this._protocol(p, "bad chunk");
          a.buf.set(f.subarray(1), a.n);
          a.n += f.length - 1;
        } else {
          return this._protocol(p, `frame type ${t} on the reliable channel`);
        }
        if (p.asm && p.asm.n === p.asm.buf.length) {
          const msg = p.asm.buf;
          p.asm = null;
          deliver(Channel.Reliable, msg);
        }
        return;
      }
      case 1:
        deliver(Channel.Unreliable, f);
        return;
      case 2: {
        if (f.length < 4) return;
        const seq = new DataView(f.buffer, f.byteOffset).getUint32(0);
        if (p.lastSeq !== null && ((seq - p.lastSeq) | 0) <= 0) return; // stale: newest wins
        p.lastSeq = seq;
        deliver(Channel.Sequenced, f.subarray(4));
        return;
      }
      case CONTROL: {
        if (f.length < PING_SIZE) return; // unknown or short: ignored
        if (f[0] === F_PING) {
          pingIn(p, new DataView(f.buffer, f.byteOffset).getUint32(1));
          const pong = f.slice(0, PING_SIZE);
          pong[0] = F_PONG;
          new DataView(pong.buffer).setUint16(13, Math.round(p.lossIn * 65535));
          try { c.dcs[CONTROL].send(pong); } catch (e) { /* closing */ }
        } else if (f[0] === F_PONG) {
          const sent = new DataView(f.buffer, f.byteOffset).getBigInt64(5);
          const rtt = (nowNs() - Number(sent)) / 1e6;
          if (rtt >= 0 && rtt < 60000) {
            p.rtt = p.pongs === 0 ? rtt : p.rtt + (rtt - p.rtt) / 8;
            p.pongs++;
          }
          p.lossOut = new DataView(f.buffer, f.byteOffset).getUint16(13) / 65535;
        }
        return;
      }
    }
  }

  _protocol(p, why) {
    console.warn("mesh: protocol error from", p.id, why);
    this._disconnect(p, "protocol error", false);
  }

  _ping(p) {
    const c = p.conn;
    if (!p.open || !c.dcs[CONTROL]) return;
    p.lastPing = now();
    const f = new Uint8Array(PING_SIZE);
    const v = new DataView(f.buffer);
    f[0] = F_PING;
    v.setUint32(1, ++p.pingSeq);
    v.setBigInt64(5, BigInt(Math.round(nowNs())));
    v.setUint16(13, Math.round(p.lossIn * 65535));
    try { c.dcs[CONTROL].send(f); } catch (e) { /* closing */ }
  }

  _disconnect(p, reason, retry) {
    if (this.peers.get(p.id) !== p) return;
    this.peers.delete(p.id);
    this.gens.set(p.id, Math.max(p.gen, p.conn ? p.conn.gen : 0));
    p.open = false;
    this._closeConn(p.conn, 0);
    this._emit(p, "disconnected", reason);
    if ((retry || reason === "timed out" || reason === "ICE failed") && p.offerer && this.members && this.members.has(p.id)) {
      setTimeout(() => {
        if (!this.closed && this.members.has(p.id)) this._ensurePeer(p.id);
      }, this.opts.reconnectAfter);
    }
  }

  _tick() {
    const t = now();
    const o = this.opts;
    for (const p of [...this.peers.values()]) {
      const c = p.conn;
      if (p.state === "connecting") {
        if (t - p.created > o.connectTimeout) { this._disconnect(p, "ICE failed", false); continue; }
        if (!p.offerer || !c) continue;
        if (c.offer && !c.pc.remoteDescription && t - c.offerSentAt > 150 * (1 << Math.min(c.offerSends - 1, 3))) {
          c.offerSentAt = t;
          c.offerSends++;
          c.offer.sdp = c.pc.localDescription.sdp;
          this._sendSignal(p.id, { ...c.offer });
        }
        const age = t - c.started;
        if ((c.failedAt && t - c.failedAt > Math.min(100 << Math.min(c.gen - 1, 5), 2000)) ||
            age > 5000 * Math.min(c.gen, 4)) {
          this._startOffer(p).catch((e) => console.warn("mesh: offer to", p.id, e.message));
        }
        continue;
      }
      const silent = t - p.lastRecv;
      if (silent > o.disconnectAfter) { this._disconnect(p, "timed out", true); continue; }
      if (silent > o.interruptAfter && p.state === "connected") this._emit(p, "interrupted");
      else if (silent <= o.interruptAfter && p.state === "interrupted") this._emit(p, "resumed");
      const every = t - p.lastSend < o.pingInterval ? Math.max(o.pingInterval, o.busyPingInterval) : o.pingInterval;
      if (t - p.lastPing >= every) this._ping(p);
    }
  }
}

// pingIn updates the loss estimate from the sequence number of a ping:
// the fraction of the last 64 sequence numbers that never arrived.
function pingIn(p, seq) {
  const ALL = (1n << 64n) - 1n;
  if (p.pingSpan === 0) {
    p.lastPingIn = seq; p.pingMask = 1n; p.pingSpan = 1;
  } else {
    const d = (seq - p.lastPingIn) | 0;
    if (d > 0) {
      p.pingMask = d >= 64 ? 1n : ((p.pingMask << BigInt(d)) | 1n) & ALL;
      p.lastPingIn = seq;
      p.pingSpan = Math.min(p.pingSpan + d, 64);
    } else if (-d < 64) {
      p.pingMask |= 1n << BigInt(-d); // late, but it arrived
    }
  }
  let mask = p.pingMask & ((1n << BigInt(p.pingSpan)) - 1n), n = 0;
  for (; mask; mask >>= 1n) n += Number(mask & 1n);
  p.lossIn = 1 - n / p.pingSpan;
}

function now() { return performance.now(); }
function nowNs() { return (performance.timeOrigin + performance.now()) * 1e6; }

function bytes(data) {
  if (typeof data === "string") return new TextEncoder().encode(data);
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new TypeError("mesh: send takes a Uint8Array, an ArrayBuffer or a string");
}

function concat(head, body) {
  const f = new Uint8Array(head.length + body.length);
  f.set(head, 0);
  f.set(body, head.length);
  return f;
}
