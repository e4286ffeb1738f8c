// The autoscaling chart of one group and role: load and predicted load (percent of in-service capacity)
// against the scale-out alarm (high) and the scale-in low-water mark (low), the in-service node count on a
// second axis, and the scale events as vertical markers on the same time axis (drawn by a uPlot hook).
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { INFINITE_LOAD, type AutoscaleView, type ScaleEvent } from "./types";

/** the load drawn for a role with demand and no in-service node (the API's InfiniteLoad) */
const OFF_SCALE = 250;

export interface ChartInput {
  view: AutoscaleView;
  /** this group's and role's scale events */
  events: ScaleEvent[];
}

export interface AutoscaleChart {
  update(d: ChartInput): void;
  resize(width: number): void;
  destroy(): void;
}

function colors() {
  const cs = getComputedStyle(document.documentElement);
  const v = (name: string, dflt: string) => cs.getPropertyValue(name).trim() || dflt;
  return {
    fg: v("--fg", "#222"),
    grid: v("--grid", "rgba(128,128,128,0.2)"),
    load: v("--chart-load", "#1f77b4"),
    predicted: v("--chart-predicted", "#9467bd"),
    high: v("--chart-high", "#d62728"),
    low: v("--chart-low", "#2ca02c"),
    nodes: v("--chart-nodes", "#ff7f0e"),
    out: v("--chart-out", "#d62728"),
    in: v("--chart-in", "#2ca02c"),
    other: v("--chart-other", "#8c564b"),
  };
}

export type EventKind = "out" | "in" | "other";

/** eventKind sorts the autoscaler's actions: scale-out, minimum and launch add nodes; scale-in, terminate
 * and delete-group remove them; replace, rolling-upgrade and the failures are neither. */
export function eventKind(action: string): EventKind {
  switch (action) {
    case "scale-out":
    case "minimum":
    case "launch":
      return "out";
    case "scale-in":
    case "terminate":
    case "drain":
    case "delete-group":
      return "in";
    case "replace":
    case "rolling-upgrade":
    case "launch-timeout":
    case "launch-failed":
      return "other";
  }
  if (/fail|timeout|replace|upgrade/i.test(action)) return "other";
  if (/out|launch|up|add/i.test(action)) return "out";
  if (/in\b|down|terminat|drain|remove/i.test(action)) return "in";
  return "other";
}

export const EVENT_MARK: Record<EventKind, string> = { out: "▲", in: "▼", other: "◆" };

function toData(d: ChartInput): uPlot.AlignedData {
  const s = d.view.samples ?? [];
  const xs = s.map((x) => Date.parse(x.at) / 1000);
  const clamp = (v: number) => (v >= INFINITE_LOAD ? OFF_SCALE : Math.min(v, OFF_SCALE));
  return [
    xs,
    s.map((x) => clamp(x.load)),
    s.map((x) => clamp(x.predicted)),
    s.map(() => d.view.high),
    s.map(() => d.view.low),
    s.map((x) => x.nodes),
  ];
}

export function createAutoscaleChart(el: HTMLElement, input: ChartInput, width: number): AutoscaleChart {
  let current = input;
  const c = colors();
  const axis = { stroke: c.fg, grid: { stroke: c.grid, width: 1 }, ticks: { stroke: c.grid, width: 1 } };
  const drawEvents = (u: uPlot) => {
    const min = u.scales.x.min;
    const max = u.scales.x.max;
    if (min === undefined || max === undefined) return;
    const ctx = u.ctx;
    const { top, height } = u.bbox;
    ctx.save();
    ctx.lineWidth = Math.max(1, devicePixelRatio);
    ctx.setLineDash([4 * devicePixelRatio, 3 * devicePixelRatio]);
    ctx.font = `${11 * devicePixelRatio}px system-ui, sans-serif`;
    ctx.textBaseline = "top";
    for (const ev of current.events) {
      const t = Date.parse(ev.at) / 1000;
      if (!(t >= min && t <= max)) continue;
      const x = Math.round(u.valToPos(t, "x", true));
      const kind = eventKind(ev.action);
      const col = c[kind];
      ctx.strokeStyle = col;
      ctx.beginPath();
      ctx.moveTo(x, top);
      ctx.lineTo(x, top + height);
      ctx.stroke();
      ctx.fillStyle = col;
      ctx.fillText(EVENT_MARK[kind], x + 2 * devicePixelRatio, top + 2 * devicePixelRatio);
    }
    ctx.restore();
  };
  const opts: uPlot.Options = {
    width,
    height: 220,
    cursor: { drag: { x: false, y: false } },
    legend: { live: true },
    scales: {
      x: { time: true },
      pct: { range: (_u, _min, max) => [0, Math.max(100, Math.ceil((max ?? 0) / 10) * 10)] },
      n: { range: (_u, _min, max) => [0, Math.max(4, (max ?? 0) + 1)] },
    },
    axes: [
      { ...axis },
      { ...axis, scale: "pct", label: "load %", values: (_u, ticks) => ticks.map((t) => `${t}`) },
      { ...axis, scale: "n", side: 1, label: "nodes", grid: { show: false } },
    ],
    series: [
      { label: "time" },
      { label: "load %", scale: "pct", stroke: c.load, width: 2, points: { show: false } },
      { label: "predicted %", scale: "pct", stroke: c.predicted, width: 2, dash: [6, 4], points: { show: false } },
      { label: "alarm (high)", scale: "pct", stroke: c.high, width: 1, points: { show: false } },
      { label: "low-water", scale: "pct", stroke: c.low, width: 1, points: { show: false } },
      { label: "nodes", scale: "n", stroke: c.nodes, width: 2, points: { show: false }, paths: uPlot.paths.stepped?.({ align: 1 }) },
    ],
    hooks: { draw: [drawEvents] },
  };
  const u = new uPlot(opts, toData(input), el);
  return {
    update(d) {
      current = d;
      u.setData(toData(d));
    },
    resize(w) {
      if (Math.abs(u.width - w) >= 2) u.setSize({ width: w, height: 220 });
    },
    destroy() {
      u.destroy();
    },
  };
}
