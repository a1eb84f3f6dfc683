// The retinad dashboard: one EventSource (/events) pushes a snapshot of the daemon's figures
// every status period; the page keeps the last WINDOW of them for its plots.
"use strict";

const WINDOW = 240; // snapshots kept for the plots (a minute at the default 250 ms)
const BINS = 1000; // closed bins kept for the bin-by-bin plot (10 s at 100 Hz)
const TREND = 20000; // reports kept for the session's trend (5.5 h at one a second)
const colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"];
const hist = { t: [], fps: [], missed: [], spikes: [], r: {}, step: {}, grid: {} }; // grid[model][cell i]
// Closed bins, one entry per bin: its time (s, display frames / frame rate), the recorded rates
// and each model's predicted rates per shown cell.
const bins = { t: [], obs: [], pred: {}, models: [] };
const trend = { t: [], ve: {}, r: {}, last: 0 }; // r and variance explained per model, one point per report
let grid = []; // the small multiples, one uPlot per cell
let models = [];
let plots = {};
let last = null;
let updates = 0; // snapshots shown, for tests and the curious
let marks = []; // the last marks' times (s), drawn on every time axis

const $ = (id) => document.getElementById(id);
const fmt = (x, d = 2) => (x === null || x === undefined ? "-" : Number(x).toFixed(d));

function push(arr, v, keep = WINDOW) {
  arr.push(v);
  if (arr.length > keep) arr.shift();
}

function series(name, i) {
  return { label: name, stroke: colors[i % colors.length], width: 1.5 };
}

function makePlot(id, names, yLabel, seriesOf = series) {
  const el = $(id);
  if (plots[id]) plots[id].destroy();
  const opts = {
    width: Math.max(el.parentElement.clientWidth - 10, 300), height: 200,
    series: [{}].concat(names.map(seriesOf)),
    axes: [{}, { label: yLabel }],
    hooks: { draw: [drawMarks] },
  };
  plots[id] = new uPlot(opts, [[]].concat(names.map(() => [])), el);
}

// drawMarks draws each mark as a dashed vertical line on a plot's time axis.
function drawMarks(u) {
  const ctx = u.ctx;
  ctx.save();
  ctx.strokeStyle = "#888";
  ctx.setLineDash([4, 4]);
  for (const t of marks) {
    if (t < u.scales.x.min || t > u.scales.x.max) continue;
    const x = Math.round(u.valToPos(t, "x", true));
    ctx.beginPath();
    ctx.moveTo(x, u.bbox.top);
    ctx.lineTo(x, u.bbox.top + u.bbox.height);
    ctx.stroke();
  }
  ctx.restore();
}

function text(tag, v) {
  const el = document.createElement(tag);
  el.textContent = v;
  return el;
}

// showCells draws, per cell of the latest validation reports, one bar of r per model and the
// observed and predicted mean rates.
function showCells(ms) {
  const withReport = ms.filter((m) => m.ReportCells && m.ReportCells.length);
  if (!withReport.length) return;
  const table = document.createElement("table");
  table.className = "bars";
  const head = document.createElement("tr");
  for (const h of ["cell", "observed / predicted (spikes/s)"].concat(withReport.map((m) => "r " + m.Name))) head.appendChild(text("th", h));
  table.appendChild(head);
  withReport[0].ReportCells.forEach((id, i) => {
    const tr = document.createElement("tr");
    const m0 = withReport[0];
    tr.appendChild(text("td", id));
    tr.appendChild(text("td", fmt(m0.ObservedRate[i], 1) + " / " + withReport.map((m) => fmt(m.PredictedRate[i], 1)).join(", ")));
    withReport.forEach((m, j) => {
      const td = document.createElement("td");
      const r = m.CellR[i];
      const bar = document.createElement("span");
      bar.className = "bar";
      bar.style.width = Math.max(0, (r || 0) * 120) + "px";
      bar.style.background = colors[models.indexOf(m.Name) % colors.length];
      td.appendChild(bar);
      td.appendChild(text("span", " " + fmt(r, 2) + " (VE " + fmt(m.CellVE[i], 2) + ")"));
      tr.appendChild(td);
    });
    table.appendChild(tr);
  });
  $("cells").replaceChildren(table);
}

// showFlip plots the flip-to-light histogram (bars as steps) up to its last non-empty bin.
function showFlip(s) {
  const h = s.FlipHist || [];
  let n = h.length;
  while (n > 1 && h[n - 1] === 0) n--;
  const xs = [], ys = [];
  for (let i = 0; i < n; i++) { xs.push(i * s.FlipHistBinMs); ys.push(h[i]); }
  if (!plots.plotFlip) {
    const el = $("plotFlip");
    plots.plotFlip = new uPlot({
      width: Math.max(el.parentElement.clientWidth - 10, 300), height: 200,
      scales: { x: { time: false } },
      series: [{ label: "ms" }, { label: "frames", stroke: colors[0], fill: colors[0] + "55", paths: uPlot.paths.stepped({ align: 1 }) }],
      axes: [{ label: "ms" }, {}],
    }, [[], []], el);
  }
  plots.plotFlip.setData([xs, ys]);
}

function showRecent(s) {
  const ms = s.Marks || [];
  marks = ms.map((m) => m.UnixMs / 1000);
  $("marks").replaceChildren(...ms.map((m) => text("li", new Date(m.UnixMs).toLocaleTimeString() + " " + m.Label + (m.Note ? ": " + m.Note : ""))));
  const cs = (s.Choices || []).slice().reverse();
  $("choices").tBodies[0].replaceChildren(...cs.map((c) => {
    const tr = document.createElement("tr");
    for (const v of [c.Seq, c.Strategy, c.Pick < 0 ? "default" : c.Pick, (c.Scores || []).map((x) => fmt(x, 3)).join(" "),
      (c.Fallback ? "fallback: " : "") + c.Why]) tr.appendChild(text("td", v));
    return tr;
  }));
}

// showGrid keeps every cell's predicted rates per model and draws them as small multiples.
function showGrid(ms) {
  const ids = (ms[0] && ms[0].CellIDs) || [];
  for (const n of models) {
    const m = ms.find((x) => x.Name === n);
    const g = hist.grid[n] || (hist.grid[n] = []);
    ids.forEach((_, i) => {
      if (!g[i]) g[i] = new Array(hist.t.length - 1).fill(null);
      push(g[i], m && m.Rates && i < m.Rates.length ? m.Rates[i] : null);
    });
  }
  if (grid.length !== ids.length || grid.models !== models.join()) {
    grid.forEach((u) => u.destroy());
    const el = $("grid");
    el.replaceChildren();
    grid = ids.map((id) => {
      const cell = document.createElement("div");
      cell.appendChild(text("span", "cell " + id));
      el.appendChild(cell);
      return new uPlot({
        width: Math.max(cell.clientWidth - 4, 100), height: 90,
        legend: { show: false }, cursor: { show: false },
        axes: [{ show: false }, { size: 30, font: "9px sans-serif" }],
        series: [{}].concat(models.map((n, i) => ({ stroke: colors[i % colors.length], width: 1 }))),
      }, [[]].concat(models.map(() => [])), cell);
    });
    grid.models = models.join();
  }
  grid.forEach((u, i) => u.setData([hist.t].concat(models.map((n) => hist.grid[n][i]))));
}

function resetModels(names) {
  models = names;
  for (const k of ["r", "step"]) {
    for (const n of names) if (!hist[k][n]) hist[k][n] = new Array(hist.t.length).fill(null);
  }
  for (const n of names) {
    if (!trend.ve[n]) trend.ve[n] = new Array(trend.t.length).fill(null);
    if (!trend.r[n]) trend.r[n] = new Array(trend.t.length).fill(null);
  }
  makePlot("plotR", names, "r");
  makePlot("plotStep", names, "ms");
  // The same colour per model: r solid, variance explained dashed.
  makePlot("plotVE", names.map((n) => n + " r").concat(names.map((n) => n + " VE")), "", (n, i) =>
    Object.assign(series(n, i % names.length), i >= names.length ? { dash: [5, 4] } : {}));
}

// showThumb draws the stimulus grid of the latest frame whose onset is known.
function showThumb(s) {
  $("thumbError").textContent = s.ThumbError || "";
  const th = s.Thumb;
  if (!th) return;
  const c = $("thumb");
  if (c.width !== th.W || c.height !== th.H) { c.width = th.W; c.height = th.H; }
  const gray = atob(th.Gray);
  const img = c.getContext("2d").createImageData(th.W, th.H);
  for (let i = 0; i < gray.length; i++) {
    const v = gray.charCodeAt(i);
    img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = v;
    img.data[4 * i + 3] = 255;
  }
  c.getContext("2d").putImageData(img, 0, 0);
  $("thumbFrame").textContent = th.Frame;
  c.dataset.frame = th.Frame;
}

// keepBins appends the bins closed since the last snapshot, with each model's predictions.
function keepBins(s) {
  const b = s.Bins;
  if (!b) return;
  if (b.Models.join() !== bins.models.join()) {
    bins.models = b.Models;
    for (const n of b.Models) if (!bins.pred[n]) bins.pred[n] = new Array(bins.t.length).fill([]);
    if (plots.plotCell) { plots.plotCell.destroy(); delete plots.plotCell; }
  }
  b.Frames.forEach((f, i) => {
    push(bins.t, f / s.FrameRateSet, BINS);
    push(bins.obs, b.Observed[i], BINS);
    for (const n of Object.keys(bins.pred)) {
      const m = b.Models.indexOf(n);
      push(bins.pred[n], m < 0 ? [] : b.Predicted[m][i], BINS);
    }
  });
}

// showBins plots the chosen cell's recorded rate (gray steps) and every model's prediction.
function showBins(ci) {
  if (!bins.models.length) return;
  if (!plots.plotCell) {
    const el = $("plotCell");
    plots.plotCell = new uPlot({
      width: Math.max(el.parentElement.clientWidth - 10, 300), height: 200,
      scales: { x: { time: false } },
      series: [{ label: "s" }, { label: "recorded", stroke: "#999", paths: uPlot.paths.stepped({ align: 1 }) }]
        .concat(bins.models.map((n) => series(n, models.indexOf(n)))),
      axes: [{ label: "s since the daemon started" }, { label: "spikes/s" }],
    }, [[], []].concat(bins.models.map(() => [])), el);
  }
  const at = (row) => (row && ci < row.length ? row[ci] : null);
  plots.plotCell.setData([bins.t, bins.obs.map(at)].concat(bins.models.map((n) => bins.pred[n].map(at))));
}

// keepTrend takes one point per validation report: each model's variance explained.
function keepTrend(ms) {
  const t = Math.max(0, ...ms.map((m) => m.ReportUnixMs || 0));
  if (t <= trend.last) return;
  trend.last = t;
  push(trend.t, t / 1000, TREND);
  for (const n of models) {
    const m = ms.find((x) => x.Name === n);
    push(trend.ve[n], m && m.ReportUnixMs ? m.VarExplained : null, TREND);
    push(trend.r[n], m && m.ReportUnixMs ? m.LiveR : null, TREND);
  }
}

// showOnsetError plots the onset-error histogram by bucket (labelled by upper bound, us).
function showOnsetError(h) {
  const labels = (h.UpperUs || []).map((u) => "≤" + u).concat([">" + (h.UpperUs || []).at(-1)]);
  const counts = (h.Counts || []).concat([h.Above || 0]);
  if (!plots.plotOnsetError) {
    const el = $("plotOnsetError");
    plots.plotOnsetError = new uPlot({
      width: Math.max(el.parentElement.clientWidth - 10, 300), height: 200,
      scales: { x: { time: false } },
      series: [{ label: "bucket", value: (u, i) => (i === null ? "-" : labels[i]) },
        { label: "frames", stroke: colors[1], fill: colors[1] + "55", paths: uPlot.paths.bars({ size: [0.8] }) }],
      axes: [{ values: (u, vals) => vals.map((i) => labels[i] || "") }, {}],
    }, [[], []], el);
  }
  plots.plotOnsetError.setData([counts.map((_, i) => i), counts]);
}

function show(s) {
  updates++;
  document.body.dataset.updates = updates;
  document.body.dataset.frames = s.Frames;
  $("frames").textContent = s.Frames;
  $("frameRate").textContent = fmt(s.FrameRate) + " Hz (set " + s.FrameRateSet + ")";
  $("missed").textContent = s.Missed;
  $("dropped").textContent = s.Dropped;
  $("untimed").textContent = s.Untimed;
  $("onsetLatency").textContent = fmt(s.OnsetLatencyMs) + " ms";
  $("flipToPublish").textContent = fmt(s.FlipToPublishP50Ms) + " / " + fmt(s.FlipToPublishP99Ms) + " ms";
  $("onsetToPublish").textContent = fmt(s.OnsetToPublishP50Us, 0) + " / " + fmt(s.OnsetToPublishP99Us, 0) + " µs";
  $("onsetError").textContent = s.OnsetError && s.OnsetError.P50 !== null
    ? "≤" + fmt(s.OnsetError.P50, 0) + " / ≤" + fmt(s.OnsetError.P99, 0) + " µs" : "unknown";
  $("publishSend").textContent = fmt(s.PublishSendP99Us, 0) + " µs";
  $("diodeDrift").textContent = fmt(s.DiodeDriftPPM, 2) + " ppm";
  // Spikes per second over the last 4 s of snapshots (acquisition sends them in batches; a new
  // session restarts the count: no rate across it).
  const k = Math.max(0, hist.t.length - 16);
  const sps = hist.t.length && s.UnixMs / 1000 > hist.t[k] && s.Spikes >= hist.spikes[k]
    ? (s.Spikes - hist.spikes[k]) / (s.UnixMs / 1000 - hist.t[k]) : null;
  $("spikes").textContent = s.Spikes + (sps !== null ? " (" + fmt(sps, 0) + "/s)" : "") + (s.Unplaced ? " (unplaced " + s.Unplaced + ")" : "");
  $("rejected").textContent = s.Rejected;
  $("drift").textContent = fmt(s.AcqDriftPPM, 1) + " ppm";
  $("publish").textContent = s.PublishQueued + " / " + s.PublishDropped;
  const faults = [];
  if (s.BusDownS > 0) faults.push("NATS disconnected " + fmt(s.BusDownS, 1) + " s");
  if (s.PhotodiodeDownS > 0) faults.push("photodiode disconnected " + fmt(s.PhotodiodeDownS, 1) + " s");
  $("faults").textContent = faults.length ? faults.join(", ") : "none";
  $("faults").className = faults.length ? "bad" : "";
  $("session").textContent = s.Session || "-";
  $("state").textContent = s.State || "-";
  const diode = s.PhotodiodeDownS > 0 ? "disconnected" : s.Confirmed ? "seeing the patch" : s.LinkLost ? "link lost messages" : "no onset";
  $("diode").textContent = diode + " (frame " + s.LastFrame + (s.DroppedBefore ? ", " + s.DroppedBefore + " dropped before" : "") + ")";
  $("diode").className = s.Confirmed ? "good" : "bad";
  $("diodeState").textContent = $("diode").textContent;
  $("diodeState").className = $("diode").className;
  showThumb(s);
  showOnsetError(s.OnsetError || {});
  showFlip(s);
  $("record").textContent = s.Record + (s.RecordError ? ": " + s.RecordError : "");
  $("recordBytes").textContent = s.RecordBytes ? (s.RecordBytes / 1e6).toFixed(1) + " MB" : "";

  const ms = s.Models || [];
  const names = ms.map((m) => m.Name);
  if (names.join() !== models.join()) resetModels(names);
  const body = $("models").tBodies[0];
  body.replaceChildren(...ms.map((m) => {
    const tr = document.createElement("tr");
    tr.dataset.model = m.Name;
    tr.dataset.liveR = m.LiveR === null ? "" : m.LiveR;
    const late = m.DeadlineMs > 0 && m.LastComputeMs > m.DeadlineMs;
    for (const [v, cls] of [[m.Name], [fmt(m.LiveR, 3)], [fmt(m.LastComputeMs) + " / " + fmt(m.MaxComputeMs) + " ms", late ? "bad" : ""],
      [m.DeadlineMs ? fmt(m.DeadlineMs) + " ms" : "-"], [m.Steps], [m.Skipped, m.Skipped ? "bad" : ""], [m.Cells]]) {
      const td = document.createElement("td");
      td.textContent = v;
      if (cls) td.className = cls;
      tr.appendChild(td);
    }
    return tr;
  }));
  const cnn = ms.find((m) => m.Name === "cnn"), ln = ms.find((m) => m.Name === "ln");
  $("verdict").textContent = cnn && ln && cnn.LiveR !== null && ln.LiveR !== null
    ? (cnn.LiveR > ln.LiveR ? "CNN ahead of LN" : "LN ahead of CNN") + " by " + fmt(Math.abs(cnn.LiveR - ln.LiveR), 3) + " in live r"
    : "";

  showCells(ms);
  showRecent(s);

  // The cell selector lists the first model's cells.
  const sel = $("cell");
  const ids = (ms[0] && ms[0].CellIDs) || [];
  if (sel.options.length !== ids.length) {
    sel.replaceChildren(...ids.map((id, i) => new Option(String(id), String(i))));
  }
  const ci = Number(sel.value || 0);

  const t = s.UnixMs / 1000;
  const fps = last && t > last.t ? (s.Frames - last.frames) / (t - last.t) : null;
  push(hist.t, t);
  push(hist.fps, fps !== null && fps >= 0 ? fps : null);
  push(hist.missed, s.Missed);
  push(hist.spikes, s.Spikes);
  for (const n of models) {
    const m = ms.find((x) => x.Name === n);
    push(hist.r[n], m ? m.LiveR : null);
    push(hist.step[n], m ? m.LastComputeMs : null);
  }
  keepTrend(ms);
  keepBins(s);
  last = { t, frames: s.Frames };
  if (!plots.plotFrames) makePlot("plotFrames", ["frames/s", "missed"], "");
  plots.plotFrames.setData([hist.t, hist.fps, hist.missed]);
  plots.plotR.setData([hist.t].concat(models.map((n) => hist.r[n])));
  plots.plotStep.setData([hist.t].concat(models.map((n) => hist.step[n])));
  plots.plotVE.setData([trend.t].concat(models.map((n) => trend.r[n]), models.map((n) => trend.ve[n])));
  showBins(ci);
  showGrid(ms);
}

function connect() {
  const es = new EventSource("events");
  es.onopen = () => { $("conn").textContent = "live"; $("conn").className = "good"; };
  es.onerror = () => { $("conn").textContent = "reconnecting"; $("conn").className = "bad"; };
  es.onmessage = (e) => show(JSON.parse(e.data));
}

async function control(endpoint) {
  const headers = { "Content-Type": "application/x-www-form-urlencoded" };
  const user = $("user").value;
  if (user) headers.Authorization = "Basic " + btoa(user + ":" + $("password").value);
  let status, text, ok = false;
  try {
    const res = await fetch("control/" + endpoint, {
      method: "POST", headers,
      body: new URLSearchParams({ label: $("label").value, name: $("name").value, file: $("file").value, strategy: $("strategy").value,
        record: $("recordSession").checked }),
    });
    [status, text, ok] = [res.status, await res.text(), res.ok];
  } catch (e) { // the daemon is gone or the connection broke: say so rather than nothing
    [status, text] = ["error", endpoint + " not sent: " + e];
  }
  $("controlResult").textContent = status + " " + text;
  $("controlResult").className = ok ? "good" : "bad";
  document.body.dataset.controlStatus = status;
}

for (const b of document.querySelectorAll("#controls button")) {
  b.addEventListener("click", () => control(b.dataset.endpoint));
}
connect();
