// raftbench view: plain JavaScript, no dependencies. Three pages share
// this file: the live cluster (/ui/), a simulator replay (/ui/sim) and a
// chaos run (/ui/chaos). Everything is read from /ui/api/*.
"use strict";

const $ = (id) => document.getElementById(id);
const el = (tag, attrs, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else if (k === "text") e.textContent = v; else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k);
  return e;
};
const fmt = (x, d = 0) => (x === undefined || x === null || Number.isNaN(x)) ? "–" : Number(x).toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });
const setConn = (ok, text) => { const c = $("conn"); c.textContent = text; c.className = "conn " + (ok ? "ok" : "bad"); };

async function getJSON(url) {
  const r = await fetch(url);
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

const page = location.pathname.replace(/\/+$/, "").endsWith("/sim") ? "sim"
  : location.pathname.replace(/\/+$/, "").endsWith("/chaos") ? "chaos" : "live";

(async function main() {
  $(page).hidden = false;
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("on", a.dataset.view === page);
  try {
    const info = await getJSON("/ui/api/info");
    for (const a of document.querySelectorAll("#nav a")) {
      const have = a.dataset.view === "live" ? info.live : a.dataset.view === "sim" ? info.seeds.length > 0 : info.chaos;
      a.classList.toggle("off", !have && a.dataset.view !== page);
    }
    if (page === "live") live();
    else if (page === "sim") sim(info.seeds);
    else chaos();
  } catch (e) { setConn(false, "error: " + e.message); }
})();

// ---------------------------------------------------------------- live

// Fields of node.Status that have their own place on a card; any other
// field (added by a later version of the node) is listed under "more".
const SHOWN = new Set(["id", "role", "term", "vote", "leader", "commit", "applied", "last_index", "last_term", "first_index", "stopped", "progress", "voters", "learners"]);

function live() {
  let es;
  const connect = () => {
    es = new EventSource("/ui/api/live/stream");
    es.onopen = () => setConn(true, "live");
    es.onmessage = (ev) => { const f = JSON.parse(ev.data); renderLive(f); setConn(true, "live · " + new Date(f.t).toLocaleTimeString()); };
    es.onerror = () => { setConn(false, "disconnected: retrying"); };
  };
  connect();
}

function renderLive(f) {
  $("title").textContent = f.title || "";
  $("load-src").textContent = f.load === "client" ? "(client side, ops/s)" : "(leader's applied entries/s; latency = propose→apply on the server)";
  const box = $("nodes");
  box.replaceChildren(...f.nodes.map(nodeCard));
  const t1 = f.t, t0 = t1 - 60000;
  chart($("ch-ops"), t0, t1, [{ pts: f.series.map((p) => [p.t, p.ops]), color: "#1565c0", label: "ops/s" }], f.events);
  chart($("ch-lat"), t0, t1, [
    { pts: f.series.map((p) => [p.t, p.p50_ms]), color: "#2e7d32", label: "p50" },
    { pts: f.series.map((p) => [p.t, p.p99_ms]), color: "#c62828", label: "p99" }], f.events);
  $("events").replaceChildren(...f.events.slice().reverse().map((e) =>
    el("li", { class: e.kind, text: new Date(e.t).toLocaleTimeString() + "  " + e.text })));
}

function nodeCard(n) {
  const s = n.status || {};
  const role = n.reachable ? (s.role || "?") : "down";
  const card = el("div", { class: "node", "data-name": n.name, "data-role": role });
  card.append(el("h4", {}, el("span", { text: n.name + (s.id ? " (id " + s.id + ")" : "") }), el("span", { class: "role " + role, text: role })));
  if (!n.reachable) { card.append(el("div", { class: "extra", text: n.error || "unreachable" })); return card; }
  const kv = el("div", { class: "kv" });
  const add = (k, v, cls) => { kv.append(el("span", { text: k }), el("span", { class: cls || "", text: v })); };
  add("term", fmt(s.term)); add("vote", s.vote !== undefined ? fmt(s.vote) : "–");
  add("leader", s.leader ? fmt(s.leader) : "none"); add("commit", fmt(s.commit), "commit");
  add("applied", fmt(s.applied)); add("last index/term", fmt(s.last_index) + (s.last_term !== undefined ? " / " + fmt(s.last_term) : ""));
  add("snapshot ≤", s.first_index ? fmt(s.first_index - 1) : "–"); add("fsyncs/s", fmt(n.fsyncs_per_s));
  add("entries/fsync", fmt(n.entries_per_fsync, 1)); add("leader changes", fmt(n.stats.LeaderChanges));
  card.append(kv);
  const conf = [];
  if (s.voters) conf.push("voters " + JSON.stringify(s.voters));
  if (s.learners && s.learners.length) conf.push("learners " + JSON.stringify(s.learners));
  for (const [k, v] of Object.entries(s)) if (/joint|outgoing|incoming/.test(k) && v) conf.push(k + " " + JSON.stringify(v));
  if (conf.length) card.append(el("div", { class: "extra", text: "configuration: " + conf.join(" · ") }));
  if (s.progress) {
    const t = el("table", { class: "tbl progress" });
    t.append(el("tr", {}, ...["peer", "match", "next", "state", "msgs out", "bytes out", "active"].map((h) => el("th", { text: h }))));
    for (const [peer, p] of Object.entries(s.progress).sort((a, b) => a[0] - b[0])) {
      t.append(el("tr", {}, ...[peer, fmt(p.match), fmt(p.next), p.state, fmt(p.inflight_msgs), fmt(p.inflight_bytes), p.recent_active ? "yes" : "no"].map((v) => el("td", { text: v }))));
    }
    card.append(el("div", { class: "extra", text: "followers (leader's view):" }), t);
  }
  const types = new Set([...Object.keys(n.sent_per_s || {}), ...Object.keys(n.recv_per_s || {})]);
  const rows = [...types].filter((k) => (n.sent_per_s || {})[k] > 0 || (n.recv_per_s || {})[k] > 0).sort();
  if (rows.length) {
    const t = el("table", { class: "tbl msgs" });
    t.append(el("tr", {}, el("th", { text: "message/s" }), el("th", { text: "sent" }), el("th", { text: "received" })));
    for (const k of rows) t.append(el("tr", {}, el("td", { text: k }), el("td", { text: fmt((n.sent_per_s || {})[k]) }), el("td", { text: fmt((n.recv_per_s || {})[k]) })));
    card.append(t);
  }
  // Fields this page does not know: objects as a small table each, the rest on one line.
  const more = Object.entries(s).filter(([k]) => !SHOWN.has(k) && !/joint|outgoing|incoming/.test(k));
  const flat = more.filter(([, v]) => v === null || typeof v !== "object" || Array.isArray(v));
  for (const [k, v] of more.filter(([, v]) => v !== null && typeof v === "object" && !Array.isArray(v))) {
    const t = el("table", { class: "tbl more", "data-field": k });
    t.append(el("tr", {}, el("th", { text: k.replace(/_/g, " "), colspan: "2" })));
    for (const [kk, vv] of Object.entries(v)) t.append(el("tr", {}, el("td", { text: kk.replace(/_/g, " ") }), el("td", { text: typeof vv === "number" ? fmt(vv) : JSON.stringify(vv) })));
    card.append(t);
  }
  if (flat.length) card.append(el("div", { class: "extra", text: "more: " + flat.map(([k, v]) => k + "=" + JSON.stringify(v)).join(" ") }));
  return card;
}

// chart draws lines over [t0, t1] with event markers as vertical lines.
function chart(cv, t0, t1, lines, events) {
  const g = cv.getContext("2d"), W = cv.width, H = cv.height, L = 44, B = 16, T = 8;
  g.clearRect(0, 0, W, H);
  let ymax = 0;
  for (const l of lines) for (const [, y] of l.pts) ymax = Math.max(ymax, y || 0);
  ymax = ymax > 0 ? niceMax(ymax) : 1;
  const x = (t) => L + (W - L - 6) * (t - t0) / (t1 - t0), y = (v) => H - B - (H - B - T) * v / ymax;
  g.strokeStyle = "#eee"; g.fillStyle = "#777"; g.font = "10px sans-serif";
  for (let i = 0; i <= 4; i++) { const v = ymax * i / 4; g.beginPath(); g.moveTo(L, y(v)); g.lineTo(W, y(v)); g.stroke(); g.fillText(fmt(v, v < 10 ? 1 : 0), 2, y(v) + 3); }
  for (let s = 0; s <= 60; s += 10) g.fillText("-" + (60 - s) + "s", x(t0 + s * 1000) - 8, H - 3);
  for (const e of events || []) {
    if (e.t < t0) continue;
    g.strokeStyle = e.kind === "leader" ? "#2e7d32" : "#c62828"; g.setLineDash([3, 3]);
    g.beginPath(); g.moveTo(x(e.t), T); g.lineTo(x(e.t), H - B); g.stroke(); g.setLineDash([]);
  }
  lines.forEach((l, i) => {
    g.strokeStyle = l.color; g.lineWidth = 1.5; g.beginPath();
    l.pts.filter(([t]) => t >= t0).forEach(([t, v], j) => j ? g.lineTo(x(t), y(v || 0)) : g.moveTo(x(t), y(v || 0)));
    g.stroke(); g.lineWidth = 1; g.fillStyle = l.color; g.fillText(l.label, W - 40, T + 10 + 11 * i);
  });
}
function niceMax(v) { const p = Math.pow(10, Math.floor(Math.log10(v))); for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p; return 10 * p; }

// ---------------------------------------------------------------- sim

const ROLE_COLOR = { leader: "#2e7d32", candidate: "#ef6c00", "pre-candidate": "#ffa726", follower: "#1565c0", down: "#9e9e9e" };

async function sim(seeds) {
  const sel = $("seed");
  const want = new URLSearchParams(location.search).get("seed");
  for (const s of seeds) sel.append(el("option", { value: s, text: s }));
  if (want !== null) sel.value = want;
  sel.onchange = () => { location.search = "?seed=" + sel.value; };
  const seed = want !== null ? want : seeds[0];
  if (seed === undefined) { setConn(false, "no simulator run recorded"); return; }
  let rec;
  try { rec = await getJSON("/ui/api/sim?seed=" + encodeURIComponent(seed)); }
  catch (e) { setConn(false, e.message); return; }
  setConn(true, "seed " + rec.seed);
  $("title").textContent = rec.title || ("sim --seed " + rec.seed + " · " + rec.params.split("\n")[0]);
  new Replay(rec).start();
}

class Replay {
  constructor(rec) {
    this.rec = rec; this.steps = rec.steps; this.n = this.steps.length;
    // Node states carried forward (a step's nodes is null when nothing changed).
    this.states = new Array(this.n); let last = [];
    this.steps.forEach((s, i) => { if (s.nodes) last = s.nodes; this.states[i] = last; });
    // Messages: when each was sent and delivered (step indexes).
    this.msgs = new Map();
    this.steps.forEach((s, i) => {
      for (const m of s.sent || []) this.msgs.set(m.id, { m, from: i, sentUs: s.at_us, to: Infinity });
      if (s.msg && this.msgs.has(s.msg.id)) this.msgs.get(s.msg.id).to = i;
    });
    this.msgList = [...this.msgs.values()];
    this.failIdx = this.steps.findIndex((s) => s.failure);
    this.i = -1; this.vt = 0; this.playing = false; this.speed = 1;
    this.ids = (this.steps[0] && this.steps[0].nodes || []).map((n) => n.id);
  }
  start() {
    const r = this.rec;
    $("sim-events").textContent = this.n;
    $("scrub").max = Math.max(0, this.n - 1);
    $("report").textContent = [
      (r.title || "seed " + r.seed) + ": " + (r.report.passed ? "passed" : "FAILED"),
      "events " + r.report.events + ", virtual time " + fmt(r.report.virtual_us / 1000) + " ms, client ops " + r.report.ops + ", trace hash " + r.report.trace_hash,
      r.report.failure ? "failure: " + r.report.failure.Kind + " — " + r.report.failure.Invariant + " at event " + r.report.failure.Event + "\n" + r.report.failure.Detail : "",
      "", "parameters:", r.params,
      "", "final states (simulator):", ...(r.report.final || []).map((s) => "  n" + s.id + " " + s.role + " term=" + s.term + " commit=" + s.commit + " applied=" + s.applied + " last=" + s.last_index)].join("\n");
    $("faults").textContent = r.report.faults;
    if (this.failIdx >= 0) { $("b-fail").hidden = false; $("b-fail").onclick = () => this.go(this.failIdx); }
    $("b-start").onclick = () => this.go(0);
    $("b-end").onclick = () => this.go(this.n - 1);
    $("b-back").onclick = () => this.go(this.prevIdx(this.i));
    $("b-fwd").onclick = () => this.go(this.nextIdx(this.i));
    $("b-play").onclick = () => this.toggle();
    $("speed").onchange = (e) => { this.speed = Number(e.target.value); };
    $("scrub").oninput = (e) => this.go(Number(e.target.value));
    document.addEventListener("keydown", (e) => {
      if (e.target.tagName === "SELECT" || e.target.tagName === "INPUT") return;
      if (e.key === "ArrowRight") this.go(this.nextIdx(this.i)); else if (e.key === "ArrowLeft") this.go(this.prevIdx(this.i)); else if (e.key === " ") { e.preventDefault(); this.toggle(); }
    });
    this.go(0);
  }
  boring(i) { const k = this.steps[i].kind; return $("skipticks").checked && (k === "tick" && !/\/\//.test(this.steps[i].text)); }
  nextIdx(i) { let j = Math.min(this.n - 1, i + 1); while (j < this.n - 1 && this.boring(j)) j++; return j; }
  prevIdx(i) { let j = Math.max(0, i - 1); while (j > 0 && this.boring(j)) j--; return j; }
  toggle() {
    this.playing = !this.playing;
    $("b-play").textContent = this.playing ? "❚❚ pause" : "▶ play";
    if (this.playing) { if (this.i >= this.n - 1) this.go(0); this.lastWall = performance.now(); requestAnimationFrame((t) => this.frame(t)); }
  }
  frame(now) {
    if (!this.playing) return;
    const dt = now - this.lastWall; this.lastWall = now;
    this.vt += dt * 1000 * this.speed; // virtual µs
    let j = this.i;
    while (j + 1 < this.n && this.steps[j + 1].at_us <= this.vt) j++;
    if (j !== this.i) this.show(j, false);
    this.draw();
    if (this.i >= this.n - 1) { this.toggle(); return; }
    requestAnimationFrame((t) => this.frame(t));
  }
  go(i) { this.vt = this.steps[i] ? this.steps[i].at_us : 0; this.show(i, true); this.draw(); }
  show(i, scrub) {
    this.i = i;
    const s = this.steps[i]; if (!s) return;
    $("step-no").textContent = s.no; $("step-t").textContent = fmt(s.at_us / 1000, 3);
    $("step-text").textContent = s.text;
    $("step-text").className = "steptext " + kindClass(s);
    if (scrub || i % 20 === 0 || s.failure) $("scrub").value = i;
    const tb = $("simnodes").tBodies[0];
    tb.replaceChildren(...this.states[i].map((n) => {
      const tr = el("tr", { class: "simnode" + (s.node === n.id && s.kind !== "deliver" ? " hl" : ""), "data-id": n.id, "data-role": n.role, "data-term": n.term, "data-commit": n.commit, "data-applied": n.applied, "data-last": n.last_index });
      for (const v of ["n" + n.id + (n.dead ? " (dead)" : ""), n.role, n.term, n.vote, n.lead, n.commit, n.applied, n.last_index, n.snapshot_index, (n.voters || []).join(",")]) tr.append(el("td", { text: v }));
      tr.children[1].style.color = ROLE_COLOR[n.role] || "";
      return tr;
    }));
    const fb = $("failbox");
    if (s.failure) { fb.hidden = false; fb.textContent = "FAILED here: " + s.failure.Kind + " — " + s.failure.Invariant + "\n" + s.failure.Detail; }
    else fb.hidden = true;
    const log = $("steplog"), lo = Math.max(0, i - 12), hi = Math.min(this.n, i + 13);
    const items = [];
    for (let j = lo; j < hi; j++) {
      const li = el("li", { class: kindClass(this.steps[j]) + (j === i ? " cur" : ""), text: this.steps[j].text });
      li.onclick = () => this.go(j);
      items.push(li);
    }
    log.replaceChildren(...items);
  }
  pos(id) {
    const k = this.ids.indexOf(id), N = this.ids.length, cv = $("net");
    const a = -Math.PI / 2 + 2 * Math.PI * k / N, R = Math.min(cv.width, cv.height) / 2 - 60;
    return [cv.width / 2 + R * Math.cos(a), cv.height / 2 + R * Math.sin(a)];
  }
  draw() {
    const cv = $("net"), g = cv.getContext("2d"), s = this.steps[this.i];
    g.clearRect(0, 0, cv.width, cv.height);
    if (!s) return;
    const cut = new Set((s.cut || []).map(([a, b]) => a + ">" + b));
    for (const a of this.ids) for (const b of this.ids) {
      if (a >= b) continue;
      const [x1, y1] = this.pos(a), [x2, y2] = this.pos(b), c = cut.has(a + ">" + b) || cut.has(b + ">" + a);
      g.strokeStyle = c ? "#e53935" : "#e0e0e0"; g.setLineDash(c ? [6, 4] : []); g.lineWidth = c ? 2 : 1;
      g.beginPath(); g.moveTo(x1, y1); g.lineTo(x2, y2); g.stroke();
    }
    g.setLineDash([]); g.lineWidth = 1;
    // Messages in flight at the current virtual time.
    const vt = Math.max(this.vt, s.at_us);
    let inflight = 0;
    g.font = "9px sans-serif";
    for (const f of this.msgList) {
      if (f.from > this.i || f.to <= this.i) continue;
      inflight++;
      const p = Math.min(1, Math.max(0, (vt - f.sentUs) / Math.max(1, f.m.deliver_at_us - f.sentUs)));
      const [x1, y1] = this.pos(f.m.from), [x2, y2] = this.pos(f.m.to);
      const x = x1 + (x2 - x1) * p, y = y1 + (y2 - y1) * p;
      const hb = /Heartbeat/.test(f.m.type);
      g.fillStyle = f.m.reject ? "#c62828" : hb ? "#90a4ae" : /Vote/.test(f.m.type) ? "#ef6c00" : "#37474f";
      g.beginPath(); g.arc(x, y, hb ? 2.5 : 4, 0, 7); g.fill();
      if (!hb && f.m.entries) g.fillText("+" + f.m.entries, x + 5, y - 3);
    }
    if (s.msg) { // the message this event delivers (or loses)
      const [x, y] = this.pos(s.msg.to);
      g.strokeStyle = s.delivered ? "#37474f" : "#c62828"; g.beginPath(); g.arc(x, y, 34, 0, 7); g.stroke();
    }
    for (const n of this.states[this.i]) {
      const [x, y] = this.pos(n.id);
      g.fillStyle = ROLE_COLOR[n.role] || "#555";
      g.beginPath(); g.arc(x, y, 26, 0, 7); g.fill();
      if (s.node === n.id && s.kind !== "deliver") { g.strokeStyle = s.failure ? "#c62828" : "#fdd835"; g.lineWidth = 4; g.stroke(); g.lineWidth = 1; }
      g.fillStyle = "#fff"; g.font = "bold 13px sans-serif"; g.textAlign = "center";
      g.fillText("n" + n.id, x, y - 2); g.font = "10px sans-serif"; g.fillText("t" + n.term, x, y + 11);
      g.fillStyle = "#333"; g.fillText("c" + n.commit + " / l" + n.last_index, x, y + 40);
      if (n.role === "down") { g.strokeStyle = "#c62828"; g.lineWidth = 3; g.beginPath(); g.moveTo(x - 16, y - 16); g.lineTo(x + 16, y + 16); g.moveTo(x + 16, y - 16); g.lineTo(x - 16, y + 16); g.stroke(); g.lineWidth = 1; }
      g.textAlign = "start";
    }
    g.fillStyle = "#333"; g.font = "11px sans-serif";
    g.fillText("t = " + fmt(vt / 1000, 1) + " ms · " + inflight + " messages in flight" + (s.cut ? " · partition: " + s.cut.length + " links cut" : ""), 8, 14);
    if (s.kind.startsWith("client") && s.client) g.fillText("client c" + (s.client - 1) + ": " + s.kind, 8, cv.height - 8);
    if (s.failure) { g.fillStyle = "#c62828"; g.font = "bold 13px sans-serif"; g.fillText("invariant broken: " + s.failure.Invariant, 8, 30); }
  }
}

function kindClass(s) {
  if (s.failure || /FAILURE/.test(s.text)) return "k-failure";
  if (/fsync fails|torn=true|lost=[1-9]|corruption|flip/.test(s.text)) return "k-disk";
  if (/blocked by partition/.test(s.text)) return "k-partition";
  if (/snapshot|conf change|transfer/.test(s.text)) return "k-config";
  return "k-" + s.kind;
}

// ---------------------------------------------------------------- chaos

function chaos() {
  const st = { ops: [], nem: [], next: 0, done: false, page: null };
  $("czoom").oninput = () => drawChaos(st);
  $("ckey").onchange = () => drawChaos(st);
  const poll = async () => {
    try {
      const p = await getJSON("/ui/api/chaos?since=" + st.next);
      st.ops.push(...p.ops); st.next = p.next; st.nem = p.nemesis; st.page = p;
      setConn(true, p.done ? "run finished" : "recording");
      $("title").textContent = p.title;
      $("chaos-ops").textContent = st.ops.length;
      $("chaos-elapsed").textContent = fmt((p.run_ms || p.elapsed_ms) / 1000, 1);
      const v = $("verdict");
      if (p.error) { v.textContent = "run ended: " + p.error; v.className = "verdict bad"; }
      else if (p.verdict) {
        v.textContent = (p.verdict.linearizable ? "linearizable" : p.verdict.verdict === "unknown" ? "check inconclusive" : "NOT linearizable" + (p.verdict.bad_key ? " (key " + p.verdict.bad_key + ")" : "")) + (p.verdict.valid ? " · valid" : " · invalid");
        v.className = "verdict " + (p.verdict.valid ? "good" : "bad");
        v.title = (p.verdict.problems || []).join("\n");
      }
      $("cnem").replaceChildren(...st.nem.map((n) => el("li", { class: "fault", text: fmt(n.at_ms) + " ms  " + n.text + (n.error ? "  (error: " + n.error + ")" : "") })));
      drawChaos(st);
      st.done = p.done && p.next >= st.ops.length;
      if (!p.done || p.ops.length > 0) setTimeout(poll, p.ops.length >= 20000 ? 0 : 1000);
    } catch (e) { setConn(false, e.message); setTimeout(poll, 2000); }
  };
  poll();
}

// drawChaos draws one band per key, ops packed in lanes (porcupine's
// layout), nemesis windows shaded behind them.
function drawChaos(st) {
  const keys = [...new Set(st.ops.map((o) => o.key))].sort((a, b) => (Number(a) - Number(b)) || a.localeCompare(b));
  const ksel = $("ckey");
  if (ksel.options.length - 1 !== keys.length) {
    const cur = ksel.value;
    ksel.replaceChildren(el("option", { value: "", text: "all keys" }), ...keys.map((k) => el("option", { value: k, text: "key " + k })));
    ksel.value = cur;
  }
  const only = ksel.value;
  const opEnd = Math.max(0, ...st.ops.map((o) => Math.max(o.call_ms, o.return_ms)), ...st.nem.map((n) => n.at_ms));
  // While recording, the axis runs to now; once done, to the last event.
  const endMs = Math.max(1, st.page && !st.page.done ? Math.max(opEnd, st.page.run_ms || 0) : opEnd * 1.01);
  const zoom = Number($("czoom").value), W = Math.max(1100, 1100 * zoom), L = 60, laneH = 12;
  const x = (ms) => L + (W - L - 10) * ms / endMs;
  // Fault windows: a start of a kind is open until its stop (or a heal).
  const open = {}, wins = [];
  for (const n of st.nem) {
    if (n.kind === "heal") { for (const k in open) { wins.push([open[k], n]); delete open[k]; } continue; }
    if (n.action === "start") { if (open[n.kind]) wins.push([open[n.kind], n]); open[n.kind] = n; }
    else if (open[n.kind]) { wins.push([open[n.kind], n]); delete open[n.kind]; }
  }
  for (const k in open) wins.push([open[k], { at_ms: endMs }]);
  const kinds = [...new Set(wins.map(([a]) => a.kind))].sort();
  const bands = [];
  let y = 8 + kinds.length * 14 + 8;
  for (const k of keys) {
    if (only && k !== only) continue;
    const ops = st.ops.filter((o) => o.key === k).sort((a, b) => a.call_ms - b.call_ms);
    const laneEnd = [];
    const placed = ops.map((o) => {
      const end = o.return_ms < 0 ? endMs : o.return_ms;
      let lane = laneEnd.findIndex((e) => e <= o.call_ms);
      if (lane < 0) { lane = laneEnd.length; laneEnd.push(0); }
      laneEnd[lane] = end + endMs * 0.002;
      return { o, lane, end };
    });
    bands.push({ k, y, placed, h: Math.max(1, laneEnd.length) * laneH + 8 });
    y += Math.max(1, laneEnd.length) * laneH + 14;
  }
  const cv = $("ctl"); cv.width = W; cv.height = Math.max(120, y + 14);
  const g = cv.getContext("2d");
  g.clearRect(0, 0, cv.width, cv.height);
  const top = 8 + kinds.length * 14;
  for (const [a, b] of wins) {
    const r = kinds.indexOf(a.kind), x1 = x(a.at_ms), x2 = Math.max(x1 + 2, x(b.at_ms));
    g.fillStyle = "rgba(229,57,53,0.07)"; g.fillRect(x1, top, x2 - x1, cv.height - top - 14);
    g.fillStyle = "rgba(229,57,53,0.55)"; g.fillRect(x1, 8 + r * 14, x2 - x1, 11);
    const label = (a.text || a.kind).replace(/^start /, "");
    g.font = "9px sans-serif";
    if (g.measureText(label).width < x2 - x1 - 4) { g.fillStyle = "#fff"; g.fillText(label, x1 + 2, 8 + r * 14 + 9); }
  }
  g.fillStyle = "#c62828"; g.font = "10px sans-serif";
  kinds.forEach((k, r) => g.fillText(k, 4, 8 + r * 14 + 9));
  g.strokeStyle = "#eee"; g.fillStyle = "#777"; g.font = "10px sans-serif";
  const step = niceMax(endMs / 12);
  for (let t = 0; t <= endMs; t += step) { g.beginPath(); g.moveTo(x(t), top); g.lineTo(x(t), cv.height - 12); g.stroke(); g.fillText(fmt(t / 1000, step < 1000 ? 1 : 0) + "s", x(t) + 2, cv.height - 2); }
  st.hits = [];
  for (const b of bands) {
    g.fillStyle = "#333"; g.font = "11px sans-serif"; g.fillText("key " + b.k, 4, b.y + 10);
    g.strokeStyle = "#ddd"; g.beginPath(); g.moveTo(0, b.y + b.h); g.lineTo(W, b.y + b.h); g.stroke();
    for (const p of b.placed) {
      const x1 = x(p.o.call_ms), x2 = Math.max(x1 + 2, x(p.end)), yy = b.y + p.lane * laneH;
      g.fillStyle = p.o.outcome === "ok" ? "#66bb6a" : p.o.outcome === "fail" ? "#bdbdbd" : "#ffb74d";
      g.fillRect(x1, yy, x2 - x1, laneH - 2);
      if (x2 - x1 > 40) { g.fillStyle = "#111"; g.font = "9px sans-serif"; g.fillText(opLabel(p.o), x1 + 2, yy + 8); }
      st.hits.push([x1, yy, x2, yy + laneH - 2, p.o]);
    }
  }
  cv.onmousemove = (e) => {
    const r = cv.getBoundingClientRect(), mx = e.clientX - r.left, my = e.clientY - r.top, tip = $("ctip");
    const h = (st.hits || []).find(([a, b, c, d]) => mx >= a && mx <= c && my >= b && my <= d);
    if (!h) { tip.hidden = true; return; }
    const o = h[4];
    tip.hidden = false; tip.style.left = e.clientX + 12 + "px"; tip.style.top = e.clientY + 12 + "px";
    tip.textContent = "client " + o.client + "  " + opLabel(o) + "  → " + o.outcome + "\ncall " + fmt(o.call_ms, 1) + " ms, return " + (o.return_ms < 0 ? "never" : fmt(o.return_ms, 1) + " ms") + (o.note ? "\n" + o.note : "");
  };
}

function opLabel(o) {
  if (o.kind === "read") return "r " + (o.outcome === "ok" ? (o.missing ? "∅" : o.value) : "?");
  if (o.kind === "write") return "w " + o.value;
  return "cas " + o.from + "→" + o.value + (o.mismatch ? " ✗" : o.missing ? " ∅" : "");
}
