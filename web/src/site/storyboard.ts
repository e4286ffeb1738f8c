// storyboard.ts: the thumbnails of a video's seek bar. The storyboard is a WebVTT file whose cues name a
// region of a sprite image: "sprite.jpg#xywh=x,y,w,h" (relative to the VTT file's URL).

export interface Thumb {
  start: number;
  end: number;
  /** the sprite's absolute URL */
  image: string;
  x: number;
  y: number;
  w: number;
  h: number;
}

// "01:02:03.500" or "02:03.500" in seconds
function vttTime(s: string): number {
  const parts = s.trim().split(":").map(Number);
  if (parts.some((p) => Number.isNaN(p))) return NaN;
  return parts.reduce((acc, p) => acc * 60 + p, 0);
}

export function parseStoryboard(vtt: string, baseURL: string): Thumb[] {
  const thumbs: Thumb[] = [];
  const lines = vtt.replace(/\r\n?/g, "\n").split("\n");
  for (let i = 0; i < lines.length; i++) {
    const arrow = lines[i].indexOf("-->");
    if (arrow < 0) continue;
    const start = vttTime(lines[i].slice(0, arrow));
    const end = vttTime(lines[i].slice(arrow + 3).trim().split(/\s+/)[0]);
    const payload = (lines[i + 1] ?? "").trim();
    const m = /^(.*)#xywh=(\d+),(\d+),(\d+),(\d+)$/.exec(payload);
    if (!m || Number.isNaN(start) || Number.isNaN(end)) continue;
    let image: string;
    try {
      image = new URL(m[1], baseURL).href;
    } catch {
      continue;
    }
    thumbs.push({ start, end, image, x: +m[2], y: +m[3], w: +m[4], h: +m[5] });
  }
  return thumbs.sort((a, b) => a.start - b.start);
}

/** thumbAt is the thumbnail shown at time t (the last one starting at or before t) */
export function thumbAt(thumbs: Thumb[], t: number): Thumb | null {
  let lo = 0;
  let hi = thumbs.length - 1;
  let found: Thumb | null = null;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (thumbs[mid].start <= t) {
      found = thumbs[mid];
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found ?? thumbs[0] ?? null;
}

export async function loadStoryboard(url: string, signal?: AbortSignal): Promise<Thumb[]> {
  const res = await fetch(url, { signal });
  if (!res.ok) throw new Error(`storyboard: HTTP ${res.status}`);
  return parseStoryboard(await res.text(), res.url || url);
}
