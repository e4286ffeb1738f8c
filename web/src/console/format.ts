// Formatting of numbers, sizes and times for the tables.

export function pct(v: number | undefined | null, digits = 0): string {
  if (v === undefined || v === null || !isFinite(v)) return "–";
  return `${v.toFixed(digits)} %`;
}

export function bytes(n: number | undefined | null): string {
  if (n === undefined || n === null || !isFinite(n)) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 && i > 0 ? 1 : 0)} ${units[i]}`;
}

export function bitrate(bps: number | undefined | null): string {
  if (!bps) return "–";
  if (bps >= 1e6) return `${(bps / 1e6).toFixed(bps >= 1e7 ? 0 : 1)} Mbit/s`;
  return `${Math.round(bps / 1e3)} kbit/s`;
}

/** age is how long ago an RFC 3339 time was, as "3d 4h", "5m 10s". */
export function age(t: string | undefined, now = Date.now()): string {
  if (!t) return "–";
  const ms = now - Date.parse(t);
  if (!isFinite(ms)) return "–";
  return duration(Math.max(0, ms / 1000));
}

export function duration(s: number | undefined | null): string {
  if (s === undefined || s === null || !isFinite(s)) return "–";
  s = Math.floor(s);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${sec}s`;
  return `${sec}s`;
}

export function clock(t: string | undefined): string {
  if (!t) return "–";
  const d = new Date(t);
  if (isNaN(d.getTime())) return "–";
  return d.toLocaleTimeString();
}

export function dateTime(t: string | undefined): string {
  if (!t) return "–";
  const d = new Date(t);
  if (isNaN(d.getTime())) return "–";
  return d.toLocaleString();
}

/** httpBase is a node's HTTP address as a URL origin. */
export function httpBase(addr: string | undefined, tls?: boolean): string {
  if (!addr) return "";
  return `${tls ? "https" : "http"}://${addr}`;
}

export function sumViewers(v: Record<string, number> | undefined): number {
  if (!v) return 0;
  let n = 0;
  for (const k of Object.keys(v)) n += Number(v[k]) || 0;
  return n;
}
