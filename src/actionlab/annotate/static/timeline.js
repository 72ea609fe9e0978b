"use strict";
// Timeline page: the chart's cursor follows the player, a click seeks, hovering shows the top-5.
// Data (inline JSON, see actionlab.annotate.page): duration, centres[], series[{name, colour, scores[]}],
// windows[{start, end, top: [[label, score, colour]]}], shown[[from_seconds, window]].
(function () {
  const data = JSON.parse(document.getElementById("page-data").textContent);
  const player = document.getElementById("player");
  const svg = document.getElementById("chart");
  const tip = document.getElementById("tip");
  const SVG_NS = "http://www.w3.org/2000/svg"; // the SVG namespace name (nothing is fetched)
  const L = 40, R = 10, T = 10, B = 26;
  let W = 1000, H = 220; // the chart's size in pixels (viewBox = pixels: text is not stretched)
  const duration = data.duration > 0 ? data.duration : 1;

  const xOf = (t) => L + (W - L - R) * Math.min(Math.max(t / duration, 0), 1);
  const yOf = (s) => T + (H - T - B) * (1 - s);
  const tOf = (x) => Math.min(Math.max((x - L) / (W - L - R), 0), 1) * duration;

  function add(name, attrs, parent) {
    const node = document.createElementNS(SVG_NS, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    (parent || svg).appendChild(node);
    return node;
  }

  function niceStep(span, target) {
    const raw = span / target, mag = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 5, 10]) if (m * mag >= raw) return m * mag;
    return 10 * mag;
  }

  function drawAxes() {
    for (const s of [0, 0.25, 0.5, 0.75, 1]) {
      add("line", { x1: L, x2: W - R, y1: yOf(s), y2: yOf(s), stroke: "#d9dee4" });
      add("text", { x: L - 6, y: yOf(s) + 4, "text-anchor": "end" }).textContent = s.toFixed(2);
    }
    const step = niceStep(duration, 10);
    for (let t = 0; t <= duration + 1e-9; t += step) {
      add("line", { x1: xOf(t), x2: xOf(t), y1: H - B, y2: H - B + 4, stroke: "#5b6570" });
      add("text", { x: xOf(t), y: H - 8, "text-anchor": "middle" }).textContent =
        (step < 1 ? t.toFixed(1) : t.toFixed(0)) + " s";
    }
  }

  function drawSeries() {
    const legend = document.getElementById("legend");
    for (const s of data.series) {
      const points = data.centres.map((t, i) => `${xOf(t).toFixed(1)},${yOf(s.scores[i]).toFixed(1)}`);
      add("polyline", { points: points.join(" "), fill: "none", stroke: s.colour, "stroke-width": 2,
        "stroke-linejoin": "round", "data-class": s.name });
      const item = document.createElement("span");
      item.style.setProperty("--c", s.colour);
      item.textContent = s.name;
      legend.appendChild(item);
    }
  }

  // the window shown at time t: the last entry of `shown` that starts at or before t
  function windowAt(t) {
    const shown = data.shown;
    let lo = 0, hi = shown.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (shown[mid][0] <= t + 1e-6) lo = mid; else hi = mid - 1;
    }
    return data.windows[shown[lo][1]];
  }

  function fillTop(list, w) {
    list.replaceChildren();
    for (const [label, score, colour] of w.top) {
      const li = document.createElement("li");
      li.dataset.label = label;
      li.dataset.score = score;
      const sw = document.createElement("span"); sw.className = "swatch"; sw.style.background = colour;
      const name = document.createElement("span"); name.className = "label"; name.textContent = label;
      name.title = label;
      const value = document.createElement("span"); value.className = "score"; value.textContent = score.toFixed(3);
      const bar = document.createElement("span"); bar.className = "bar";
      const fill = document.createElement("i"); fill.style.width = `${(100 * score).toFixed(1)}%`;
      fill.style.background = colour; bar.appendChild(fill);
      li.append(sw, name, value, bar);
      list.appendChild(li);
    }
  }

  let hover = null, cursor = null;
  function draw() {
    W = Math.max(200, Math.round(svg.clientWidth || 1000));
    H = Math.max(120, Math.round(svg.clientHeight || 220));
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.dataset.plotLeft = L; // time 0 and the end of the video, in viewBox units (read by the browser test)
    svg.dataset.plotRight = W - R;
    svg.replaceChildren();
    document.getElementById("legend").replaceChildren();
    drawAxes();
    drawSeries();
    hover = add("line", { id: "hover", y1: T, y2: H - B, stroke: "#5b6570", "stroke-dasharray": "3 3",
      visibility: "hidden" });
    cursor = add("line", { id: "cursor", y1: T - 4, y2: H - B + 4, stroke: "#1d232b", "stroke-width": 2.5 });
  }
  draw();
  const nowTop = document.getElementById("now-top");
  const nowTime = document.getElementById("now-time");
  let shownWindow = null;

  function update() {
    const t = player.currentTime || 0;
    const x = xOf(t).toFixed(2);
    cursor.setAttribute("x1", x);
    cursor.setAttribute("x2", x);
    cursor.dataset.time = t.toFixed(4);
    nowTime.textContent = `${t.toFixed(2)} s`;
    const w = windowAt(t);
    if (w !== shownWindow) {
      shownWindow = w;
      fillTop(nowTop, w);
      nowTop.dataset.window = w.index;
    }
  }

  function tick() {
    update();
    if (!player.paused && !player.ended) requestAnimationFrame(tick);
  }

  function chartX(event) {
    const p = svg.createSVGPoint();
    p.x = event.clientX; p.y = event.clientY;
    return p.matrixTransform(svg.getScreenCTM().inverse()).x;
  }

  for (const e of ["timeupdate", "seeked", "seeking", "loadedmetadata", "pause"]) player.addEventListener(e, update);
  player.addEventListener("play", () => requestAnimationFrame(tick));
  player.addEventListener("error", () => { // e.g. a browser built without H.264: say so, the chart still works
    const note = document.createElement("p");
    note.id = "video-error";
    note.className = "hint";
    note.textContent = `This browser cannot play the video (${player.currentSrc.startsWith("data:") ? "embedded" :
      decodeURIComponent(player.currentSrc.split("/").pop())}, H.264); open it in a video player.`;
    document.getElementById("now").appendChild(note);
  });
  svg.addEventListener("click", (event) => {
    player.currentTime = tOf(chartX(event));
    update();
  });
  svg.addEventListener("mousemove", (event) => {
    const x = chartX(event), t = tOf(x), w = windowAt(t);
    hover.setAttribute("x1", xOf(t)); hover.setAttribute("x2", xOf(t)); hover.setAttribute("visibility", "visible");
    tip.replaceChildren();
    const head = document.createElement("h2");
    head.textContent = `${t.toFixed(2)} s · window ${w.start.toFixed(2)}-${w.end.toFixed(2)} s`;
    const list = document.createElement("ol"); list.className = "toplist";
    fillTop(list, w);
    tip.append(head, list);
    tip.dataset.time = t.toFixed(4);
    const box = svg.getBoundingClientRect();
    const left = event.clientX - box.left;
    tip.style.left = `${left + 250 > box.width ? left - 250 : left + 12}px`;
    tip.style.top = "8px";
    tip.hidden = false;
  });
  svg.addEventListener("mouseleave", () => { tip.hidden = true; hover.setAttribute("visibility", "hidden"); });
  let resizing = 0;
  window.addEventListener("resize", () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => { draw(); shownWindow = null; update(); }, 100);
  });
  update();
})();
