// The playground of `lstmlab serve`: pick a served model and use it through the JSON API.
//
//   char-lm, word-lm  generate (streamed as server-sent events), the likeliest next symbols after
//                     any character (POST /v1/next), and for char-lm the gates there (POST /v1/inspect,
//                     drawn by the inspect page's own view, window.lstmlabInspect from page.js)
//   classifier        labels and probabilities of a text (POST /v1/classify)
//   forecaster        history, forecast and interval as an SVG chart (POST /v1/forecast)
//
// Every request goes to the server that sent this page; an API error shows as one line of text.
(function () {
  "use strict";
  const inspect = window.lstmlabInspect;
  const $ = (id) => document.getElementById(id);
  const KEY_STORE = "lstmlab-api-key";
  // The server's --max-inspect-chars (read from /healthz at start; 2,000 by default): longer texts are
  // inspected in a window that ends at the clicked character (what the model reads before it is what
  // sets its gates there).
  let INSPECT_CHARS = 2000;
  const LENGTH_SLIDER_MAX = 100000;  // past this a slider is too coarse to use
  const GATES_HINT = $("pg-gates-hint").innerHTML;  // shown again whenever there are no gates to show
  const CLASSIFY_DELAY_MS = 300;  // wait for a pause in typing before asking again
  const count = (n) => n.toLocaleString("en-US");
  const pct = (p) => (100 * p).toFixed(1) + "%";

  const models = new Map();  // id -> its entry in GET /v1/models
  const lm = {
    chars: [],         // the shown text by code point: the (normalised) prompt, then what was generated
    generated: 0,      // generated characters received so far
    controller: null,  // aborts the running generation
    selected: null,    // the span whose next symbols are shown
  };
  // Answers can arrive out of order: each kind of request keeps only the answer to its latest ask.
  const latest = { next: 0, inspect: 0, classify: 0, forecast: 0 };
  let inspected = null;  // {text, offset, view}: what the gate view shows now

  // -------------------------------------------------------------------------
  // Talking to the API
  // -------------------------------------------------------------------------

  class ApiError extends Error {}

  function headers() {
    const h = { "Content-Type": "application/json" };
    const key = sessionStorage.getItem(KEY_STORE);
    if (key) h.Authorization = "Bearer " + key;
    return h;
  }
  // The message of a 4xx/5xx answer: the server's one line, or the status when the body is not its JSON.
  async function failure(response) {
    let message = "the server answered " + response.status + " " + response.statusText;
    try {
      const body = await response.json();
      if (body && body.error && body.error.message) message = body.error.message;
    } catch (e) { /* not JSON: keep the status line */ }
    if (response.status === 401) $("pg-key-box").open = true;
    return new ApiError(message);
  }
  async function request(path, body, signal) {
    const response = await fetch(path, body === undefined ? { headers: headers(), signal: signal }
      : { method: "POST", headers: headers(), body: JSON.stringify(body), signal: signal });
    if (!response.ok) throw await failure(response);
    return response;
  }
  const api = async (path, body) => (await request(path, body)).json();

  function showError(error) {
    const line = $("pg-error");
    line.textContent = error instanceof ApiError ? error.message
      : "the page could not finish that: " + (error && error.message ? error.message : String(error));
    line.hidden = false;
  }
  function clearError() { $("pg-error").hidden = true; $("pg-error").textContent = ""; }
  // Event handlers run through this, so that nothing the API or the network does is thrown uncaught.
  const guarded = (handler) => (...args) => { Promise.resolve().then(() => handler(...args)).catch(showError); };

  // The server-sent events of a streamed answer, one parsed JSON object at a time.
  async function* serverEvents(response) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      buffer += decoder.decode(value || new Uint8Array(), { stream: !done });
      const blocks = buffer.split(/\r?\n\r?\n/);
      buffer = done ? "" : blocks.pop();  // an event is complete only once its blank line has come
      for (const block of blocks) {
        const data = block.split(/\r?\n/).filter((line) => line.startsWith("data:"))
          .map((line) => line.slice(5).replace(/^ /, "")).join("\n");
        if (data) yield JSON.parse(data);
      }
      if (done) return;
    }
  }

  // -------------------------------------------------------------------------
  // Models
  // -------------------------------------------------------------------------

  async function loadLimits() {
    // /healthz is open even when the API needs a key; it says what this server allows.
    const response = await fetch("healthz");
    if (!response.ok) return;
    const limits = (await response.json()).limits || {};
    if (limits.max_inspect_chars) INSPECT_CHARS = limits.max_inspect_chars;
    if (limits.max_length) $("pg-length").max = Math.min(limits.max_length, LENGTH_SLIDER_MAX);
  }

  async function loadModels() {
    await loadLimits();
    const answer = await api("v1/models");
    const select = $("pg-model");
    select.replaceChildren(...answer.data.map((m) => new Option(m.id + " (" + m.kind + ")", m.id)));
    answer.data.forEach((m) => models.set(m.id, m));
    if (models.size === 0) throw new ApiError("this server serves no models");
    const wanted = new URLSearchParams(location.search).get("model");
    if (models.has(wanted)) select.value = wanted;
    chooseModel();
  }
  function chooseModel() {
    clearError();
    clearText();  // stops a generation of the model chosen before
    const model = models.get($("pg-model").value);
    $("pg-summary").textContent = model.summary || "";
    const section = { "char-lm": "pg-lm", "word-lm": "pg-lm", classifier: "pg-classifier", forecaster: "pg-forecaster" };
    document.querySelectorAll(".pg-kind").forEach((s) => { s.hidden = s.id !== section[model.kind]; });
    document.body.dataset.kind = model.kind;
    if (model.kind === "char-lm" || model.kind === "word-lm") {
      const unit = model.kind === "word-lm" ? "words" : "characters";
      document.querySelectorAll(".pg-unit").forEach((s) => { s.textContent = unit; });
      $("pg-gates-section").hidden = model.kind !== "char-lm";  // the server inspects characters only
    } else if (model.kind === "classifier") {
      $("pg-classes").hidden = true;
      if ($("pg-classify-text").value.trim()) classifyNow().catch(showError);
    } else if (model.kind === "forecaster") {
      $("pg-steps").value = model.horizon || 12;
      $("pg-interval-label").hidden = model.interval === false;  // a point forecaster has no intervals
      forecastNow().catch(showError);
    }
  }
  const current = () => $("pg-model").value;

  // -------------------------------------------------------------------------
  // Language models: generate, and look inside at a character
  // -------------------------------------------------------------------------

  function sliderValues() {
    const topK = +$("pg-top-k").value, topP = +$("pg-top-p").value;
    return { temperature: +$("pg-temperature").value, top_k: topK > 0 ? topK : null,
             top_p: topP < 1 ? topP : null, length: +$("pg-length").value };
  }
  function showSliders() {
    const v = sliderValues();
    const out = (id, text) => { $(id).parentElement.querySelector("output").textContent = text; };
    out("pg-temperature", v.temperature === 0 ? "0 (greedy)" : v.temperature.toFixed(2));
    out("pg-top-k", v.top_k === null ? "off" : String(v.top_k));
    out("pg-top-p", v.top_p === null ? "off" : v.top_p.toFixed(2));
    out("pg-length", count(v.length));
    const interval = $("pg-interval");
    interval.parentElement.querySelector("output").textContent = Math.round(100 * interval.value) + "%";
  }

  function setStatus(state, text) {
    const status = $("pg-status");
    status.dataset.state = state;
    status.textContent = text;
  }
  function clearText() {
    stopGenerating();
    lm.controller = null;  // the aborted request, if any, no longer owns the page
    $("pg-generate").disabled = false; $("pg-stop").disabled = true;
    lm.chars = []; lm.generated = 0; lm.selected = null; follow = true;
    $("pg-output").replaceChildren();
    $("pg-next").replaceChildren();
    $("pg-next-after").hidden = true; $("pg-next-hint").hidden = false;
    $("pg-gates").replaceChildren(); $("pg-gates-note").hidden = true;
    $("pg-gates-hint").innerHTML = GATES_HINT; $("pg-gates-hint").hidden = false;
    inspected = null;
    latest.next++; latest.inspect++;  // answers still on their way are for the text just cleared
    setStatus("idle", "");
  }

  // The text of one event as the spans to show: one per character for a character model; for a
  // word model one per word. The server gives each character the surprise of the symbol that wrote
  // it, so a word is a run of equal surprise (a new word also starts at a space after a non-space).
  // An event with fewer numbers than characters (one per piece) colours its characters by their mean.
  function pieces(text, surprise) {
    const chars = Array.from(text);
    let bits = chars.map(() => null);
    if (surprise && surprise.length === chars.length) bits = surprise;
    else if (surprise && surprise.length) bits = chars.map(() => surprise.reduce((a, b) => a + b, 0) / surprise.length);
    if (document.body.dataset.kind !== "word-lm") return chars.map((ch, k) => [ch, bits[k]]);
    const out = [];
    chars.forEach((ch, k) => {
      const last = out[out.length - 1];
      const joins = last && last[1] === bits[k] && !(/\s/.test(ch) && !/\s/.test(last[0].slice(-1)));
      if (joins) last[0] += ch; else out.push([ch, bits[k]]);
    });
    return out;
  }
  // Append text to the output: spans with data-i, the index of their last character in lm.chars.
  function append(text, surprise) {
    const fragment = document.createDocumentFragment();
    for (const [piece, bits] of pieces(text, surprise)) {
      const chars = Array.from(piece);
      const end = lm.chars.length + chars.length - 1;
      lm.chars.push(...chars);
      let nodes;
      if (chars.length === 1) {
        nodes = inspect.charNodes(piece, end, false);  // the inspect page's look: ↵ for a newline, and so on
      } else {
        const span = document.createElement("span");
        span.className = "ch"; span.dataset.i = end; span.textContent = piece;
        nodes = [span];
      }
      const span = nodes[0];
      if (bits === null) {
        span.classList.add("prompt");
      } else {
        span.classList.add("gen");
        span.dataset.bits = bits.toFixed(3);
        span.title = bits.toFixed(2) + " bits";
        inspect.paint(span, inspect.surpriseColour(bits));
      }
      fragment.append(...nodes);
    }
    $("pg-output").appendChild(fragment);
    followOnce();
  }
  // Keep the newest text in sight while the reader stays at the bottom. Reading the scroll position
  // forces a layout, so it is done once a frame, not once an event (thousands of spans).
  let follow = true, following = false, autoScrollTop = -1;
  $("pg-output").addEventListener("scroll", () => {
    const output = $("pg-output");
    if (Math.abs(output.scrollTop - autoScrollTop) < 2) return;  // our own scroll, not the reader's
    follow = output.scrollTop + output.clientHeight >= output.scrollHeight - 8;
  }, { passive: true });
  function followOnce() {
    if (following || !follow) return;
    following = true;
    requestAnimationFrame(() => {
      following = false;
      const output = $("pg-output");
      if (!follow) return;
      output.scrollTop = output.scrollHeight;
      autoScrollTop = output.scrollTop;
    });
  }

  async function generate() {
    clearError();
    clearText();
    const model = current(), unit = document.body.dataset.kind === "word-lm" ? "words" : "characters";
    const body = Object.assign({ model: model, prompt: $("pg-prompt").value, stream: true }, sliderValues());
    const controller = new AbortController();
    lm.controller = controller;
    $("pg-generate").disabled = true; $("pg-stop").disabled = false;
    setStatus("generating", "generating…");
    let finished = false;
    try {
      const response = await request("v1/generate", body, controller.signal);
      for await (const event of serverEvents(response)) {
        if (lm.controller !== controller) return;  // a newer request has taken over the page
        if (event.type === "start") {
          append(event.prompt, null);  // as the model reads it (normalised)
        } else if (event.type === "text" && event.index === 0) {
          append(event.text, event.surprise);
          lm.generated += Array.from(event.text).length;
          setStatus("generating", "generating… " + count(lm.generated) + " characters");
        } else if (event.type === "done") {
          finished = true;
          const reason = event.finish_reasons[0];
          const why = { length: "the length asked for", time_limit: "the server's time limit (--time-limit)" };
          setStatus("done", "done: " + count(lm.generated) + " characters (" + count(body.length) + " " + unit
                    + " asked for; ended by " + (why[reason] || reason) + ")");
        } else if (event.type === "error") {
          throw new ApiError(event.message);
        }
      }
      if (!finished) setStatus("error", "the stream ended early after " + count(lm.generated) + " characters");
    } catch (error) {
      if (lm.controller !== controller) {
        // Aborted by a newer request or another model: that one says what is happening now.
      } else if (error.name === "AbortError") {
        // Aborting closes the connection; the server sees it and cancels the generation.
        setStatus("stopped", "stopped after " + count(lm.generated) + " characters");
      } else {
        setStatus("error", "");
        showError(error);
      }
    } finally {
      if (lm.controller === controller) {
        lm.controller = null;
        $("pg-generate").disabled = false; $("pg-stop").disabled = true;
      }
    }
  }
  function stopGenerating() {
    if (lm.controller !== null) lm.controller.abort();
  }

  // A click on the text: the likeliest next symbols after it, and (char-lm) the gates there.
  function pick(span) {
    if (lm.selected !== null) lm.selected.classList.remove("sel");
    lm.selected = span;
    span.classList.add("sel");
    const i = +span.dataset.i;
    showNext(i).catch(showError);
    if (document.body.dataset.kind === "char-lm") showGates(i).catch(showError);
  }
  async function showNext(i) {
    const ask = ++latest.next;
    const text = lm.chars.slice(0, i + 1).join("");
    const answer = await api("v1/next", { model: current(), text: text, top: 5 });
    if (ask !== latest.next) return;
    const chars = Array.from(answer.text), tail = chars.slice(-40).map((ch) => ch === "\n" ? "↵" : ch).join("");
    $("pg-next-text").textContent = (chars.length > 40 ? "…" : "") + tail;
    $("pg-next-after").hidden = false; $("pg-next-hint").hidden = true;
    const list = $("pg-next");
    list.dataset.prefixLength = String(i + 1);
    const next = i + 1 < lm.chars.length ? lm.chars[i + 1] : null;
    inspect.fillTop(list, answer.next.map((n) => [n.symbol, n.prob]), next);
  }
  async function showGates(i) {
    const ask = ++latest.inspect;
    // The whole text when it fits; otherwise the first INSPECT_CHARS characters, or if the clicked
    // one is beyond them, the INSPECT_CHARS characters that end at it.
    const end = lm.chars.length <= INSPECT_CHARS ? lm.chars.length : Math.max(i + 1, INSPECT_CHARS);
    const offset = Math.max(0, end - INSPECT_CHARS);
    const text = lm.chars.slice(offset, end).join("");
    if (inspected === null || inspected.text !== text || inspected.offset !== offset) {
      const hint = $("pg-gates-hint");
      hint.hidden = false;
      hint.textContent = "Reading the text…";
      let data;
      try {
        data = await api("v1/inspect", { model: current(), text: text });
      } finally {
        if (ask === latest.inspect) hint.innerHTML = GATES_HINT;
      }
      if (ask !== latest.inspect) return;
      inspected = { text: text, offset: offset, view: inspect.render($("pg-gates"), data) };
      hint.hidden = true;
      const note = $("pg-gates-note");
      note.hidden = end === lm.chars.length && offset === 0;
      note.textContent = "The text is longer than the " + count(INSPECT_CHARS) + " characters the server inspects at once: "
        + "this shows characters " + count(offset + 1) + " to " + count(end)
        + (offset > 0 ? ", read from a fresh state." : ".");
    }
    if (ask === latest.inspect) inspected.view.select(i - offset);
  }

  // -------------------------------------------------------------------------
  // Classifiers
  // -------------------------------------------------------------------------

  let classifyTimer = null;
  async function classifyNow() {
    clearTimeout(classifyTimer);
    const text = $("pg-classify-text").value;
    const ask = ++latest.classify;
    if (!text.trim()) { $("pg-classes").hidden = true; return; }
    const answer = await api("v1/classify", { model: current(), texts: [text] });
    if (ask !== latest.classify) return;
    clearError();
    const prediction = answer.predictions[0];
    const rows = Object.entries(prediction.probs).sort((a, b) => b[1] - a[1]);
    const body = $("pg-classes").tBodies[0];
    body.replaceChildren(...rows.map(([label, p]) => {
      const tr = document.createElement("tr");
      tr.dataset.label = label; tr.dataset.p = String(p);
      if (label === prediction.label) tr.classList.add("best");
      const name = document.createElement("td"); name.textContent = label;
      const value = document.createElement("td"); value.className = "num"; value.textContent = pct(p);
      const barCell = document.createElement("td"); barCell.className = "pg-bar-cell";
      const bar = document.createElement("span"); bar.className = "pg-bar"; bar.style.width = (100 * p).toFixed(1) + "%";
      barCell.appendChild(bar);
      tr.append(name, value, barCell);
      return tr;
    }));
    $("pg-classes").hidden = false;
  }

  // -------------------------------------------------------------------------
  // Forecasters: an SVG chart of the history, the forecast and its interval
  // -------------------------------------------------------------------------

  async function forecastNow() {
    const ask = ++latest.forecast;
    const model = models.get(current());
    const steps = $("pg-steps").value.trim() === "" ? null : Number($("pg-steps").value);
    const body = { model: model.id, steps: steps, interval: +$("pg-interval").value };
    $("pg-forecast-status").textContent = "forecasting…";
    try {
      const answer = await api("v1/forecast", body);
      if (ask !== latest.forecast) return;
      clearError();
      drawChart($("pg-chart"), answer);
      const n = answer.forecast.mean.length;
      $("pg-forecast-status").textContent = (answer.target ? answer.target + ": " : "") + "the last "
        + count(answer.history.values.length) + " observations, and " + count(n) + " steps forecast";
      $("pg-band-label").textContent = answer.forecast.lower ? Math.round(100 * body.interval) + "% interval" : "no interval";
    } catch (error) {
      if (ask === latest.forecast) $("pg-forecast-status").textContent = "";
      throw error;
    }
  }

  const SVG = "http://www.w3.org/2000/svg";
  function svg(tag, attributes, parent) {
    const element = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
    if (parent) parent.appendChild(element);
    return element;
  }
  // About `target` round steps (1, 2 or 5 times a power of ten) covering [low, high].
  function ticks(low, high, target) {
    const raw = (high - low) / target;
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
    const out = [];
    for (let v = Math.ceil(low / step) * step; v <= high + step * 1e-9; v += step) out.push(+v.toPrecision(12));
    return out;
  }
  const indexLabel = (v) => typeof v === "string" ? v.slice(0, 10) : String(v);  // ISO dates: the day is enough
  const shortNumber = (v) => Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-2 && v !== 0) ? v.toExponential(1) : String(+v.toPrecision(4));

  function drawChart(chart, answer) {
    const W = 960, H = 380, left = 64, right = 16, top = 16, bottom = 44;
    const history = answer.history, forecast = answer.forecast;
    const nh = history.values.length, nf = forecast.mean.length;
    const all = history.values.concat(forecast.mean, forecast.lower || [], forecast.upper || [])
      .filter((v) => v !== null && Number.isFinite(v));
    let low = Math.min(...all), high = Math.max(...all);
    if (low === high) { low -= 1; high += 1; }
    const pad = 0.05 * (high - low);
    low -= pad; high += pad;
    const n = Math.max(nh + nf - 1, 1);
    const x = (k) => left + (W - left - right) * k / n;  // history k, then forecast step j at nh + j
    const y = (v) => top + (H - top - bottom) * (high - v) / (high - low);
    const at = (k, v) => x(k).toFixed(1) + "," + y(v).toFixed(1);
    chart.replaceChildren();

    const axes = svg("g", { class: "axes" }, chart);
    for (const v of ticks(low, high, 6)) {
      svg("line", { x1: left, x2: W - right, y1: y(v), y2: y(v), class: "grid" }, axes);
      svg("text", { x: left - 6, y: y(v) + 4, "text-anchor": "end" }, axes).textContent = shortNumber(v);
    }
    const index = history.index.concat(forecast.index);
    // Label the first and last points, the last observation and the middle, where they do not collide.
    const marks = [];
    for (const k of [0, nh + nf - 1, nh - 1, Math.floor((nh - 1) / 2)]) {
      if (k >= 0 && marks.every((m) => Math.abs(x(m) - x(k)) >= 110)) marks.push(k);
    }
    for (const k of marks) {
      svg("line", { x1: x(k), x2: x(k), y1: H - bottom, y2: H - bottom + 5, class: "tick" }, axes);
      svg("text", { x: x(k), y: H - bottom + 20, "text-anchor": k === 0 ? "start" : k === nh + nf - 1 ? "end" : "middle" },
          axes).textContent = indexLabel(index[k]);
    }
    svg("line", { x1: x(nh - 1), x2: x(nh - 1), y1: top, y2: H - bottom, class: "divider" }, chart);

    if (forecast.lower && forecast.upper) {
      const upper = [], lower = [];
      forecast.upper.forEach((v, j) => { if (v !== null && forecast.lower[j] !== null) upper.push(at(nh + j, v)); });
      forecast.lower.forEach((v, j) => { if (v !== null && forecast.upper[j] !== null) lower.unshift(at(nh + j, v)); });
      svg("polygon", { class: "band", points: upper.concat(lower).join(" ") }, chart);
    }
    const line = (values, first, cls) => svg("polyline", { class: cls, points:
      values.map((v, k) => v === null ? null : at(first + k, v)).filter((p) => p !== null).join(" ") }, chart);
    line(history.values, 0, "history");
    // The forecast line starts at the last observation, so the two read as one series.
    const joined = line([history.values[nh - 1]].concat(forecast.mean), nh - 1, "forecast");
    joined.dataset.steps = String(nf);
    forecast.mean.forEach((v, j) => {
      if (v === null) return;
      const dot = svg("circle", { class: "point", cx: x(nh + j), cy: y(v), r: 3 }, chart);
      const range = forecast.lower && forecast.lower[j] !== null
        ? " (" + shortNumber(forecast.lower[j]) + " – " + shortNumber(forecast.upper[j]) + ")" : "";
      svg("title", {}, dot).textContent = indexLabel(forecast.index[j]) + ": " + shortNumber(v) + range;
    });
  }

  // -------------------------------------------------------------------------
  // Wiring
  // -------------------------------------------------------------------------

  $("pg-model").addEventListener("change", guarded(chooseModel));
  $("pg-generate").addEventListener("click", guarded(generate));
  $("pg-stop").addEventListener("click", guarded(stopGenerating));
  $("pg-prompt").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && !$("pg-generate").disabled) { e.preventDefault(); guarded(generate)(); }
  });
  $("pg-output").addEventListener("click", (e) => { const span = e.target.closest(".ch"); if (span) pick(span); });
  document.querySelectorAll("#pg-sliders input, #pg-interval").forEach((input) => input.addEventListener("input", showSliders));
  $("pg-classify").addEventListener("click", guarded(classifyNow));
  $("pg-classify-text").addEventListener("input", () => {
    clearTimeout(classifyTimer);
    classifyTimer = setTimeout(guarded(classifyNow), CLASSIFY_DELAY_MS);
  });
  $("pg-forecast").addEventListener("click", guarded(forecastNow));
  $("pg-key").value = sessionStorage.getItem(KEY_STORE) || "";
  $("pg-key").addEventListener("change", guarded(() => {
    const key = $("pg-key").value.trim();
    if (key) sessionStorage.setItem(KEY_STORE, key); else sessionStorage.removeItem(KEY_STORE);
    clearError();
    if (models.size === 0) return loadModels();
  }));
  $("pg-legend-bar").style.background = inspect.surpriseGradient;
  $("pg-legend-high").textContent = inspect.SURPRISE_MAX_BITS + "+ bits";
  showSliders();

  // The page is ready (for a person, and for the tests) once the models are listed, or the reason they are not is shown.
  loadModels().catch(showError).finally(() => { document.body.dataset.ready = "1"; });
})();
