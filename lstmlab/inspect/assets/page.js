(function () {
  "use strict";
  const D = JSON.parse(document.getElementById("lstmlab-data").textContent);
  const CHARS = Array.from(D.text);  // by code point, as Python indexes the text
  const T = CHARS.length;
  const spans = Array.from(document.querySelectorAll("#text .ch"));
  const unknown = new Set(D.unknown);
  const cache = new Map();
  const state = { layer: D.initial.layer, unit: D.initial.unit, signal: D.initial.signal,
                  selected: D.initial.position, hover: null };
  const $ = (id) => document.getElementById(id);

  function decode(b64) {
    const bin = atob(b64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return new Float32Array(bytes.buffer);
  }
  function series(layer, signal, unit) {
    const L = D.layers[layer];
    const k = L.units.indexOf(unit);
    if (k < 0 || !(signal in L.values)) return null;
    const key = layer + "/" + signal;
    if (!cache.has(key)) cache.set(key, decode(L.values[signal]));
    return cache.get(key).subarray(k * T, (k + 1) * T);
  }
  function cellScale(layer, unit) {
    const L = D.layers[layer];
    return L.cell_scale[L.units.indexOf(unit)] || 1;
  }
  // Diverging scale on -1 ... 1 (blue, white, red): ColorBrewer RdBu, as matplotlib's RdBu_r in the PNG.
  const STOPS = [[33, 102, 172], [103, 169, 207], [209, 229, 240], [247, 247, 247], [253, 219, 199],
                 [239, 138, 98], [178, 24, 43]];
  const SEQ = [[255, 255, 255], [231, 212, 232], [194, 165, 207], [153, 112, 171], [118, 42, 131]];
  function ramp(stops, t) {
    t = Math.max(0, Math.min(1, t)) * (stops.length - 1);
    const i = Math.min(Math.floor(t), stops.length - 2), f = t - i;
    return stops[i].map((a, j) => Math.round(a + (stops[i + 1][j] - a) * f));
  }
  function normalised(signal, v, layer, unit) {
    const kind = D.ranges[signal];
    if (kind === "sigmoid") return 2 * v - 1;
    if (kind === "cell") return v / cellScale(layer, unit);
    return v;
  }
  function colourFor(signal, v, layer, unit) {
    if (signal === "surprise") return ramp(SEQ, v / 8);
    return ramp(STOPS, (normalised(signal, v, layer, unit) + 1) / 2);
  }
  const css = (rgb) => "rgb(" + rgb.join(",") + ")";
  const dark = (rgb) => 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2] < 125;
  function shown(ch) {
    if (ch === "\n") return "↵"; if (ch === " ") return "␣"; if (ch === "\t") return "⇥";
    if (ch.charCodeAt(0) < 32) return String.fromCharCode(0x2400 + ch.charCodeAt(0));
    return ch;
  }
  const fmt = (v) => v.toFixed(3);
  const pct = (p) => (100 * p).toFixed(1) + "%";
  const label = (s) => s === "surprise" ? "surprise (bits)" : s + " (" + D.short_names[s] + ")";

  function currentValues() {
    if (state.signal === "surprise") return D.surprise;
    return series(state.layer, state.signal, state.unit);
  }
  function recolour() {
    const values = currentValues();
    for (let i = 0; i < spans.length; i++) {
      const v = values[i];
      const rgb = colourFor(state.signal, v, state.layer, state.unit);
      const s = spans[i];
      s.style.backgroundColor = css(rgb);
      s.style.color = dark(rgb) ? "#fff" : "";
      s.dataset.v = v.toFixed(4);
    }
    legend();
    $("text-heading").textContent = state.signal === "surprise" ? "The text, coloured by the model's surprise"
      : "The text, coloured by " + state.signal + " of layer " + state.layer + " unit " + state.unit;
    document.querySelectorAll("table.find tbody tr").forEach((tr) => tr.classList.toggle("current",
      +tr.dataset.layer === state.layer && +tr.dataset.unit === state.unit && tr.dataset.signal === state.signal));
    panel();
  }
  function legend() {
    const bar = $("legend-bar");
    let low = "−1", high = "+1", caption = "tanh: −1 … 0 … +1";
    if (state.signal === "surprise") {
      bar.style.background = "linear-gradient(to right," + SEQ.map(css).join(",") + ")";
      low = "0 bits"; high = "8+ bits"; caption = "how unexpected each character was";
    } else {
      bar.style.background = "linear-gradient(to right," + STOPS.map(css).join(",") + ")";
      const kind = D.ranges[state.signal];
      if (kind === "sigmoid") { low = "0"; high = "1"; caption = "gate: 0 closed … 0.5 … 1 open"; }
      if (kind === "cell") {
        const m = cellScale(state.layer, state.unit).toFixed(2);
        low = "−" + m; high = "+" + m; caption = "cell state, scaled to its largest |c| in this text";
      }
    }
    $("legend-low").textContent = low; $("legend-high").textContent = high; $("legend-caption").textContent = caption;
  }

  function fillSelect(select, options, value) {
    select.innerHTML = "";
    for (const [v, text, disabled] of options) {
      const o = document.createElement("option");
      o.value = String(v); o.textContent = text; o.disabled = !!disabled;
      select.appendChild(o);
    }
    select.value = String(value);
  }
  function controls() {
    fillSelect($("layer-select"), D.layers.map((L, i) => [i, i + " (" + L.size + " units)", L.units.length === 0]),
               state.layer);
    const L = D.layers[state.layer];
    fillSelect($("unit-select"), L.units.map((u) => [u, String(u)]), state.unit);
    fillSelect($("signal-select"), L.signals.concat(["surprise"]).map((s) => [s, label(s)]), state.signal);
    $("unit-select").disabled = state.signal === "surprise";
  }
  function setView(layer, unit, signal) {
    state.layer = layer;
    const L = D.layers[layer];
    state.unit = L.units.includes(unit) ? unit : L.units[0];
    state.signal = signal === "surprise" || L.signals.includes(signal) ? signal : "hidden";
    controls();
    recolour();
  }

  function panel() {
    const i = state.hover !== null ? state.hover : state.selected;
    $("sel-mode").textContent = state.hover !== null && state.hover !== state.selected ? "(hover; click to pin)" : "";
    document.querySelectorAll("#text .sel, #text .hov").forEach((s) => s.classList.remove("sel", "hov"));
    spans[state.selected].classList.add("sel");
    if (state.hover !== null && state.hover !== state.selected) spans[state.hover].classList.add("hov");
    $("sel-pos").textContent = (i + 1) + " of " + T;
    $("sel-char").textContent = shown(CHARS[i]);
    $("sel-unknown").hidden = !unknown.has(i);
    $("surprise").textContent = D.surprise[i].toFixed(2) + " bits";
    $("actual-prob").textContent = pct(D.actual_prob[i]);
    const next = i + 1 < T ? CHARS[i + 1] : null;
    const top = $("top5");
    top.innerHTML = "";
    const ids = D.top_ids[i + 1], probs = D.top_probs[i + 1];
    for (let k = 0; k < ids.length; k++) {
      const sym = D.symbols[ids[k]];
      const li = document.createElement("li");
      li.dataset.symbol = sym; li.dataset.p = String(probs[k]);
      if (next !== null && sym === next) li.classList.add("hit");
      const g = document.createElement("span"); g.className = "glyph"; g.textContent = shown(sym);
      const p = document.createElement("span"); p.className = "p"; p.textContent = pct(probs[k]);
      const track = document.createElement("span"); track.className = "track";
      const bar = document.createElement("span"); bar.className = "bar"; bar.style.width = (100 * probs[k]).toFixed(1) + "%";
      track.appendChild(bar);
      li.append(g, p, track);
      top.appendChild(li);
    }
    $("actual-next").textContent = next === null ? "(end of the text)" : shown(next);
    gateTable(i);
  }
  function gateTable(i) {
    const layer = state.layer, L = D.layers[layer];
    $("panel-layer").textContent = layer;
    const units = L.panel_units.slice();
    if (!units.includes(state.unit) && L.units.includes(state.unit)) units.push(state.unit);
    const head = $("gate-table").tHead, body = $("gate-table").tBodies[0];
    head.innerHTML = ""; body.innerHTML = "";
    const hr = head.insertRow();
    const th0 = document.createElement("th"); th0.textContent = "unit"; hr.appendChild(th0);
    for (const s of L.signals) {
      const th = document.createElement("th"); th.textContent = D.short_names[s]; th.title = s; hr.appendChild(th);
    }
    for (const u of units) {
      const tr = body.insertRow();
      tr.dataset.unit = u;
      if (u === state.unit) tr.classList.add("current");
      const th = document.createElement("th"); th.textContent = u; tr.appendChild(th);
      for (const s of L.signals) {
        const v = series(layer, s, u)[i];
        const td = tr.insertCell();
        td.className = "v"; td.dataset.unit = u; td.dataset.gate = s; td.textContent = fmt(v);
        const rgb = colourFor(s, v, layer, u);
        td.style.backgroundColor = css(rgb); td.style.color = dark(rgb) ? "#fff" : "";
        td.title = s + " of unit " + u + " after reading character " + (i + 1);
      }
      tr.addEventListener("click", () => setView(layer, u, state.signal === "surprise" ? "hidden" : state.signal));
    }
  }

  function select(i) {
    state.selected = Math.max(0, Math.min(T - 1, i));
    state.hover = null;
    panel();
  }
  const text = $("text"), tip = document.createElement("div");
  tip.id = "tooltip"; document.body.appendChild(tip);
  text.addEventListener("click", (e) => { const s = e.target.closest(".ch"); if (s) select(+s.dataset.i); });
  text.addEventListener("mouseover", (e) => {
    const s = e.target.closest(".ch"); if (!s) return;
    const i = +s.dataset.i; state.hover = i; panel();
    const v = currentValues()[i];
    tip.textContent = shown(CHARS[i]) + "  #" + (i + 1) + "  " + (state.signal === "surprise" ? v.toFixed(2) + " bits"
      : D.short_names[state.signal] + "[" + state.unit + "] = " + fmt(v)) + "  ·  surprise " + D.surprise[i].toFixed(2) + " bits";
    tip.style.display = "block";
  });
  text.addEventListener("mousemove", (e) => { tip.style.left = (e.clientX + 12) + "px"; tip.style.top = (e.clientY + 14) + "px"; });
  text.addEventListener("mouseleave", () => { state.hover = null; tip.style.display = "none"; panel(); });
  document.addEventListener("keydown", (e) => {
    if (e.target.tagName === "SELECT" || e.target.tagName === "INPUT") return;
    if (e.key === "ArrowRight") { select(state.selected + 1); e.preventDefault(); }
    if (e.key === "ArrowLeft") { select(state.selected - 1); e.preventDefault(); }
  });
  $("layer-select").addEventListener("change", (e) => setView(+e.target.value, state.unit, state.signal));
  $("unit-select").addEventListener("change", (e) => setView(state.layer, +e.target.value, state.signal));
  $("signal-select").addEventListener("change", (e) => setView(state.layer, state.unit, e.target.value));
  function step(d) {
    const units = D.layers[state.layer].units, k = units.indexOf(state.unit);
    setView(state.layer, units[(k + d + units.length) % units.length], state.signal === "surprise" ? "hidden" : state.signal);
  }
  $("unit-prev").addEventListener("click", () => step(-1));
  $("unit-next").addEventListener("click", () => step(1));
  document.querySelectorAll("table.find tbody tr").forEach((tr) => {
    const go = () => setView(+tr.dataset.layer, +tr.dataset.unit, tr.dataset.signal);
    tr.addEventListener("click", go);
    tr.addEventListener("keydown", (e) => { if (e.key === "Enter") go(); });
  });

  window.lstmlab = { data: D, state: state, select: select, setView: setView };
  setView(state.layer, state.unit, state.signal);
  document.body.dataset.ready = "1";
})();
