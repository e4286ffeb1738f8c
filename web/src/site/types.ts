// types.ts: the JSON of the public site's API (docs/web.md, "The public site's API").

/** GET /site/api/config */
export interface SiteConfig {
  siteName: string;
  /** hls.js live settings the server wants (merged over hls-live.ts) */
  hls?: Record<string, unknown>;
}

/** one entry of GET /site/api/live */
export interface LiveStream {
  /** "<app>/<stream>" */
  name: string;
  startedAt?: string;
  viewers?: number;
}

export interface LiveList {
  streams: LiveStream[];
}

/** one entry of GET /site/api/videos */
export interface VideoSummary {
  id: string;
  title: string;
  durationSeconds?: number;
  createdAt?: string;
  poster?: string;
}

export interface VideoList {
  videos: VideoSummary[];
  nextPageToken?: string;
}

export interface Playback {
  hls?: string;
  mp4?: string;
  poster?: string;
  /** a WebVTT file whose cues are "sprite.jpg#xywh=x,y,w,h" */
  storyboard?: string;
  expiresAt?: string;
}

/** GET /site/api/videos/{id} */
export interface Video {
  id: string;
  title: string;
  description?: string;
  visibility?: "public" | "unlisted" | "private";
  status?: "uploading" | "processing" | "ready" | "failed";
  failure?: string;
  progress?: number;
  durationSeconds?: number;
  width?: number;
  height?: number;
  createdAt?: string;
  stream?: string;
  /** only when the video is ready */
  playback?: Playback;
}
