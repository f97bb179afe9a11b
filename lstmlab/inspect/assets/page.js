// The inspect view: a text coloured by one unit's gate (or by surprise), a side panel with the
// next-character guesses and the gates of chosen units at a pinned character, and the controls.
// A word run's data (data.level "word") has one element per word instead: data.tokens are the
// words as the model read them, data.pieces each word with the space before it (they make up
// data.text), and the page says "word" where it says "character".
//
// window.lstmlabInspect.render(container, data) draws it inside `container` from the dict that
// page.py's page_data() makes. The static page written by `lstmlab inspect` calls it on its
// embedded <script id="lstmlab-data">; the playground of `lstmlab serve` calls it on the same
// dict fetched from POST /v1/inspect. Nothing is recomputed here: every value comes from `data`.
(function () {
  "use strict";

  // Diverging scale on -1 ... 1 (blue, white, red): ColorBrewer RdBu, as matplotlib's RdBu_r in the PNG.
  const STOPS = [[33, 102, 172], [103, 169, 207], [209, 229, 240], [247, 247, 247], [253, 219, 199],
                 [239, 138, 98], [178, 24, 43]];
  // Sequential scale for surprise, 0 ... 8 bits (white to purple).
  const SEQ = [[255, 255, 255], [231, 212, 232], [194, 165, 207], [153, 112, 171], [118, 42, 131]];
  const SURPRISE_MAX_BITS = 8;

  function ramp(stops, t) {
    t = Math.max(0, Math.min(1, t)) * (stops.length - 1);
    const i = Math.min(Math.floor(t), stops.length - 2), f = t - i;
    return stops[i].map((a, j) => Math.round(a + (stops[i + 1][j] - a) * f));
  }
  const css = (rgb) => "rgb(" + rgb.join(",") + ")";
  const dark = (rgb) => 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2] < 125;
  const surpriseColour = (bits) => ramp(SEQ, bits / SURPRISE_MAX_BITS);
  // Paint an element with a background colour and a text colour that stays readable on it.
  function paint(element, rgb) {
    element.style.backgroundColor = css(rgb);
    element.style.color = dark(rgb) ? "#fff" : "";
  }
  // Characters that would be invisible on the page get a visible stand-in.
  function shown(ch) {
    if (ch === "\n") return "↵"; if (ch === " ") return "␣"; if (ch === "\t") return "⇥";
    if (ch.charCodeAt(0) < 32) return String.fromCharCode(0x2400 + ch.charCodeAt(0));
    return ch;
  }
  const fmt = (v) => v.toFixed(3);
  const pct = (p) => (100 * p).toFixed(1) + "%";

  // The nodes that show character `ch` at index i of a text (by code point, as Python indexes it):
  // a span with data-i, and after a newline (shown as ↵) a real line break.
  function charNodes(ch, i, unknown) {
    const s = document.createElement("span");
    s.className = "ch";
    s.dataset.i = i;
    if (unknown) s.classList.add("unk");
    if (ch === "\n") { s.classList.add("nl"); s.textContent = "↵"; return [s, document.createElement("br")]; }
    if (ch === " ") { s.classList.add("sp"); s.textContent = " "; }
    else if (ch === "\t" || ch.charCodeAt(0) < 32) { s.classList.add("ctl"); s.textContent = shown(ch); }
    else s.textContent = ch;
    return [s];
  }
  // The nodes that show word i: its piece of the text (the word with the space before it) as the
  // space, left uncoloured, then a span with data-i; a line end (<eos>) is drawn as a newline is.
  function wordNodes(piece, i, unknown) {
    const body = piece.replace(/^[ \t]+/, "");
    if (body === "\n") return charNodes(body, i, unknown);
    const s = document.createElement("span");
    s.className = "ch word";
    s.dataset.i = i;
    if (unknown) s.classList.add("unk");
    s.textContent = body;
    const gap = piece.slice(0, piece.length - body.length);
    return gap ? [document.createTextNode(gap), s] : [s];
  }
  // A list of likeliest next symbols, [[symbol, probability], ...], as <li>s with a bar each;
  // the one that did come next (`next`, or null) is marked.
  function fillTop(list, entries, next) {
    list.replaceChildren(...entries.map(([sym, prob]) => {
      const li = document.createElement("li");
      li.dataset.symbol = sym; li.dataset.p = String(prob);
      if (next !== null && sym === next) li.classList.add("hit");
      const g = document.createElement("span"); g.className = "glyph"; g.textContent = shown(sym);
      const p = document.createElement("span"); p.className = "p"; p.textContent = pct(prob);
      const track = document.createElement("span"); track.className = "track";
      const bar = document.createElement("span"); bar.className = "bar"; bar.style.width = (100 * prob).toFixed(1) + "%";
      track.appendChild(bar);
      li.append(g, p, track);
      return li;
    }));
  }

  // The view's frame; `noun` is "character" or "word", Noun its capitalised form.
  const skeleton = (noun, Noun) => `
<section id="controls" aria-label="colouring">
<label>layer <select id="layer-select"></select></label>
<label>unit <button type="button" id="unit-prev" title="previous unit">◀</button><select id="unit-select"></select><button type="button" id="unit-next" title="next unit">▶</button></label>
<label>signal <select id="signal-select"></select></label>
<div id="legend" aria-label="colour scale"><span id="legend-low"></span><span id="legend-bar"></span><span id="legend-high"></span><span id="legend-caption"></span></div>
</section>
<div class="inspect-main">
<section id="text-section"><h2 id="text-heading">The text</h2>
<p class="hint">Each ${noun} is coloured by the chosen unit's value <em>after</em> reading it. Hover to preview a ${noun}, click to pin it; ← → move the pin.</p>
<div id="text" class="text"></div>
</section>
<aside id="panel" aria-live="polite">
<h2>${Noun} <span id="sel-pos"></span> <span id="sel-char" class="glyph"></span> <span id="sel-mode" class="mode"></span></h2>
<p id="sel-unknown" class="note" hidden>Not in the model's vocabulary: read as the unknown symbol.</p>
<p>Surprise: <b id="surprise"></b> <span class="muted">(it gave this ${noun} <span id="actual-prob"></span>)</span></p>
<h3>Next-${noun} guesses after reading it</h3>
<ol id="top5" class="top5"></ol>
<p class="muted">Actual next ${noun}: <span id="actual-next" class="glyph"></span></p>
<h3>Units of layer <span id="panel-layer"></span> at this ${noun}</h3>
<table id="gate-table"><thead></thead><tbody></tbody></table>
<p class="muted small">Click a row to colour the text by that unit.</p>
</aside>
</div>
<div id="tooltip"></div>`;

  // The view the arrow keys move: the one drawn last.
  let current = null;
  document.addEventListener("keydown", (e) => {
    if (current === null || !current.root.isConnected) return;
    if (["SELECT", "INPUT", "TEXTAREA"].includes(e.target.tagName) || e.target.isContentEditable) return;
    if (e.key === "ArrowRight") { current.select(current.state.selected + 1); e.preventDefault(); }
    if (e.key === "ArrowLeft") { current.select(current.state.selected - 1); e.preventDefault(); }
  });

  // Draw the view of `D` (page_data's dict) inside `root`, replacing what was there.
  // options.onView(state) runs after every change of layer, unit or signal.
  // Returns {root, data, state, select(i), setView(layer, unit, signal)}.
  function render(root, D, options) {
    const onView = (options && options.onView) || (() => {});
    const words = D.level === "word";
    const noun = words ? "word" : "character";
    root.innerHTML = skeleton(noun, noun[0].toUpperCase() + noun.slice(1));
    root.classList.toggle("words", words);
    const $ = (id) => root.querySelector("#" + id);
    // One element per character, or per word (as the model read it: "<eos>" for a line end).
    const CHARS = words ? D.tokens : Array.from(D.text);
    const T = CHARS.length;
    const unknown = new Set(D.unknown);
    const fragment = document.createDocumentFragment();
    CHARS.forEach((ch, i) => fragment.append(...(words ? wordNodes(D.pieces[i], i, unknown.has(i))
                                                       : charNodes(ch, i, unknown.has(i)))));
    $("text").replaceChildren(fragment);
    const spans = Array.from(root.querySelectorAll("#text .ch"));
    const cache = new Map();
    const state = { layer: D.initial.layer, unit: D.initial.unit, signal: D.initial.signal,
                    selected: D.initial.position, hover: null };

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
    function normalised(signal, v, layer, unit) {
      const kind = D.ranges[signal];
      if (kind === "sigmoid") return 2 * v - 1;
      if (kind === "cell") return v / cellScale(layer, unit);
      return v;
    }
    function colourFor(signal, v, layer, unit) {
      if (signal === "surprise") return surpriseColour(v);
      return ramp(STOPS, (normalised(signal, v, layer, unit) + 1) / 2);
    }
    const label = (s) => s === "surprise" ? "surprise (bits)" : s + " (" + D.short_names[s] + ")";

    function currentValues() {
      if (state.signal === "surprise") return D.surprise;
      return series(state.layer, state.signal, state.unit);
    }
    function recolour() {
      const values = currentValues();
      for (let i = 0; i < spans.length; i++) {
        const v = values[i];
        paint(spans[i], colourFor(state.signal, v, state.layer, state.unit));
        spans[i].dataset.v = v.toFixed(4);
      }
      legend();
      $("text-heading").textContent = state.signal === "surprise" ? "The text, coloured by the model's surprise"
        : "The text, coloured by " + state.signal + " of layer " + state.layer + " unit " + state.unit;
      onView(state);
      panel();
    }
    function legend() {
      const bar = $("legend-bar");
      let low = "−1", high = "+1", caption = "tanh: −1 … 0 … +1";
      if (state.signal === "surprise") {
        bar.style.background = "linear-gradient(to right," + SEQ.map(css).join(",") + ")";
        low = "0 bits"; high = SURPRISE_MAX_BITS + "+ bits"; caption = "how unexpected each " + noun + " was";
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

    function fillSelect(select, choices, value) {
      select.innerHTML = "";
      for (const [v, text, disabled] of choices) {
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
      root.querySelectorAll("#text .sel, #text .hov").forEach((s) => s.classList.remove("sel", "hov"));
      spans[state.selected].classList.add("sel");
      if (state.hover !== null && state.hover !== state.selected) spans[state.hover].classList.add("hov");
      $("sel-pos").textContent = (i + 1) + " of " + T;
      $("sel-char").textContent = shown(CHARS[i]);
      $("sel-unknown").hidden = !unknown.has(i);
      $("surprise").textContent = D.surprise[i].toFixed(2) + " bits";
      $("actual-prob").textContent = pct(D.actual_prob[i]);
      const next = i + 1 < T ? CHARS[i + 1] : null;
      const ids = D.top_ids[i + 1], probs = D.top_probs[i + 1];  // row i + 1: the guesses after reading i
      fillTop($("top5"), ids.map((id, k) => [D.symbols[id], probs[k]]), next);
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
          paint(td, colourFor(s, v, layer, u));
          td.title = s + " of unit " + u + " after reading " + noun + " " + (i + 1);
        }
        tr.addEventListener("click", () => setView(layer, u, state.signal === "surprise" ? "hidden" : state.signal));
      }
    }

    function select(i) {
      state.selected = Math.max(0, Math.min(T - 1, i));
      state.hover = null;
      panel();
    }
    const text = $("text"), tip = $("tooltip");
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
    $("layer-select").addEventListener("change", (e) => setView(+e.target.value, state.unit, state.signal));
    $("unit-select").addEventListener("change", (e) => setView(state.layer, +e.target.value, state.signal));
    $("signal-select").addEventListener("change", (e) => setView(state.layer, state.unit, e.target.value));
    function step(d) {
      const units = D.layers[state.layer].units, k = units.indexOf(state.unit);
      setView(state.layer, units[(k + d + units.length) % units.length], state.signal === "surprise" ? "hidden" : state.signal);
    }
    $("unit-prev").addEventListener("click", () => step(-1));
    $("unit-next").addEventListener("click", () => step(1));

    current = { root: root, data: D, state: state, select: select, setView: setView };
    setView(state.layer, state.unit, state.signal);
    return current;
  }

  // What the playground reuses: the view, and the surprise colours for its own text.
  window.lstmlabInspect = { render: render, charNodes: charNodes, wordNodes: wordNodes, fillTop: fillTop,
                            surpriseColour: surpriseColour,
                            paint: paint, shown: shown,
                            surpriseGradient: "linear-gradient(to right," + SEQ.map(css).join(",") + ")",
                            SURPRISE_MAX_BITS: SURPRISE_MAX_BITS };

  // The static page of `lstmlab inspect` carries its data; the playground has none and calls render itself.
  const embedded = document.getElementById("lstmlab-data");
  if (embedded === null) return;
  const findRows = Array.from(document.querySelectorAll("table.find tbody tr"));
  const view = render(document.getElementById("inspect-view"), JSON.parse(embedded.textContent), {
    onView: (state) => findRows.forEach((tr) => tr.classList.toggle("current",
      +tr.dataset.layer === state.layer && +tr.dataset.unit === state.unit && tr.dataset.signal === state.signal)),
  });
  findRows.forEach((tr) => {
    const go = () => view.setView(+tr.dataset.layer, +tr.dataset.unit, tr.dataset.signal);
    tr.addEventListener("click", go);
    tr.addEventListener("keydown", (e) => { if (e.key === "Enter") go(); });
  });
  window.lstmlab = view;
  document.body.dataset.ready = "1";
})();
