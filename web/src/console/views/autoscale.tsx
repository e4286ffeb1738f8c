// Autoscaling made visible: one chart per group and role, its scale events listed below it.
import { useEffect, useRef } from "preact/hooks";
import { EVENT_MARK, createAutoscaleChart, eventKind, type AutoscaleChart } from "../chart";
import { clock, pct } from "../format";
import { INFINITE_LOAD, type AutoscaleView, type ScaleEvent } from "../types";

export function AutoscalePanel(props: { view: AutoscaleView; events: ScaleEvent[] }) {
  const { view, events } = props;
  const samples = view.samples ?? [];
  const last = samples[samples.length - 1];
  return (
    <figure class="autoscale">
      <figcaption>
        <strong>{view.role}</strong> load{" "}
        {last ? (
          <span>
            {fmtLoad(last.load)} now, predicted {fmtLoad(last.predicted)}, {last.nodes} in service
          </span>
        ) : (
          <span>no samples yet</span>
        )}{" "}
        · alarm {view.high} % · low-water {view.low} %
      </figcaption>
      <ChartBox {...props} />
      {events.length > 0 ? (
        <ol class="scale-events" aria-label={`Scale events of ${view.group} ${view.role}`}>
          {events.slice(0, 10).map((e) => (
            <ScaleEventItem key={e.id} ev={e} />
          ))}
        </ol>
      ) : (
        <p class="muted small">No scale events in view.</p>
      )}
    </figure>
  );
}

export function ScaleEventItem(props: { ev: ScaleEvent; showGroup?: boolean }) {
  const e = props.ev;
  const kind = eventKind(e.action);
  return (
    <li data-testid="scale-event" data-action={e.action} class={`ev-${kind}`}>
      <time dateTime={e.at}>{clock(e.at)}</time>{" "}
      <span class="ev-action">
        {EVENT_MARK[kind]} {e.action}
      </span>
      {props.showGroup && (
        <span class="muted">
          {" "}
          {e.group}/{e.role}
        </span>
      )}{" "}
      <span class="ev-reason">{e.reason}</span>{" "}
      <span class="muted">
        (load {fmtLoad(e.load)}, predicted {fmtLoad(e.predicted)}
        {e.nodes && e.nodes.length > 0 ? `; ${e.nodes.join(", ")}` : ""})
      </span>
    </li>
  );
}

export function fmtLoad(v: number): string {
  return v >= INFINITE_LOAD ? "∞ (no node in service)" : pct(v, 1);
}

function ChartBox(props: { view: AutoscaleView; events: ScaleEvent[] }) {
  const box = useRef<HTMLDivElement>(null);
  const chart = useRef<AutoscaleChart | null>(null);
  const latest = useRef(props);
  latest.current = props;
  useEffect(() => {
    const el = box.current!;
    let c: AutoscaleChart | null = null;
    const build = () => {
      c?.destroy();
      el.replaceChildren();
      const { view, events } = latest.current;
      c = createAutoscaleChart(el, { view, events }, Math.max(280, el.clientWidth));
      chart.current = c;
    };
    build();
    const ro = new ResizeObserver(() => c?.resize(Math.max(280, el.clientWidth)));
    ro.observe(el);
    // canvas colours come from the CSS variables of the colour scheme: draw again when it changes
    const mq = window.matchMedia("(prefers-color-scheme: dark)");
    const onScheme = () => build();
    mq.addEventListener("change", onScheme);
    return () => {
      ro.disconnect();
      mq.removeEventListener("change", onScheme);
      c?.destroy();
      chart.current = null;
    };
  }, []);
  useEffect(() => {
    chart.current?.update({ view: props.view, events: props.events });
  }, [props.view, props.events]);
  return (
    <div
      ref={box}
      class="chart"
      data-testid="autoscale-chart"
      data-group={props.view.group}
      data-role={props.view.role}
      role="img"
      aria-label={`Load, predicted load and nodes of ${props.view.group} ${props.view.role} over the last 15 minutes`}
    />
  );
}
