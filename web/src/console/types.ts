// The JSON the console exchanges with the manager (docs/web.md; the native API's types are
// internal/manager/api/apitypes). Times are RFC 3339 strings.

export type Role = "origin" | "relay" | "edge" | "transcoder";
export const ROLES: Role[] = ["origin", "relay", "edge", "transcoder"];

export type NodeState = "pending" | "running" | "inservice" | "draining" | "terminating" | "terminated";
export const NODE_STATES: NodeState[] = ["pending", "running", "inservice", "draining", "terminating", "terminated"];

/** GET and POST /console/api/session: signedIn false (with a reason) when there is no valid session. */
export interface Session {
  signedIn?: boolean;
  csrf?: string;
  expiresAt?: string;
  reason?: string;
}

export interface RoleLimits {
  role: Role;
  minLimit: number;
  maxLimit: number;
  scaleAdjustment: number;
}

export interface ScalePolicy {
  name: string;
  description?: string;
  targets: RoleLimits[];
  warmUpMs?: number;
  coolDownMs?: number;
  createdAt?: string;
  updatedAt?: string;
}

export interface LaunchTarget {
  role: Role;
  instanceType: string;
  connectionCapacity: number;
}

export interface KV {
  key: string;
  value: string;
}

export interface LaunchConfig {
  name: string;
  description: string;
  image: string;
  version: string;
  targets: LaunchTarget[];
  properties: KV[];
  metadata: KV[];
  createdAt?: string;
  updatedAt?: string;
}

export interface NewNodeGroup {
  name?: string;
  regions: string[];
  launchConfig: string;
  scalePolicy: string;
}

export interface NodeGroup {
  id: number;
  name: string;
  regions: string[] | null;
  launchConfig: string;
  scalePolicy: string;
  createdAt: string;
  deleting?: boolean;
}

export interface GroupDeletion {
  group: string;
  terminating: string[];
}

export interface Addresses {
  rtmp?: string;
  rtmps?: string;
  srt?: string;
  http?: string;
  tls?: boolean;
}

export interface NodeStats {
  connections: number;
  publishers: number;
  subscribers: number;
  streamCount?: number;
  bytesIn: number;
  bytesOut: number;
  cpuPercent: number;
  memoryBytes: number;
  memoryUsedPercent: number;
  uptimeSeconds?: number;
  overloaded?: string;
  streams: string[] | null;
}

export interface Node {
  id: string;
  group: string;
  role: Role;
  state: NodeState;
  region: string;
  zone: string;
  version: string;
  capacity: number;
  addresses: Addresses;
  parent?: string;
  stats: NodeStats;
  lastReport: string;
  createdAt: string;
  updatedAt: string;
}

export interface NodeEvent {
  id: number;
  nodeId: string;
  from: NodeState | "";
  to: NodeState;
  cause: string;
  at: string;
}

export interface AlarmThreshold {
  role: Role;
  threshold: number;
}

export interface ScaleEvent {
  id: number;
  group: string;
  role: Role;
  action: string;
  reason: string;
  load: number;
  predicted: number;
  nodes: string[] | null;
  manager: string;
  at: string;
}

/** The load of a role with demand but no in-service node. */
export const INFINITE_LOAD = 1e9;

export interface EdgeViewers {
  nodeId: string;
  hls?: number;
  webrtc?: number;
  [protocol: string]: string | number | undefined;
}

export interface LiveStream {
  name: string;
  nodeId: string;
  protocol: string;
  startedAt: string;
  codecs?: string;
  width?: number;
  height?: number;
  bitrate?: number;
  renditions?: string[] | null;
  recording?: boolean;
  viewers?: Record<string, number>;
  edges?: EdgeViewers[] | null;
}

export interface AutoscaleSample {
  at: string;
  load: number;
  predicted: number;
  nodes: number;
}

export interface AutoscaleView {
  group: string;
  role: Role;
  high: number;
  low: number;
  samples: AutoscaleSample[] | null;
}

/** One event of GET /api/v1/watch (event name "cluster"). */
export interface ClusterSnapshot {
  at: string;
  groups: NodeGroup[] | null;
  nodes: Node[] | null;
  streams: LiveStream[] | null;
  alarms: AlarmThreshold[] | null;
  scaleEvents: ScaleEvent[] | null;
  autoscale: AutoscaleView[] | null;
}

export interface PublishToken {
  token: string;
  expiresAt: string;
  whip: string;
}

export type Visibility = "public" | "unlisted" | "private";
export type VideoStatus = "uploading" | "processing" | "ready" | "failed";

export interface Playback {
  hls?: string;
  mp4?: string;
  poster?: string;
  expiresAt?: string;
}

export interface Video {
  id: string;
  title: string;
  description: string;
  visibility: Visibility;
  status: VideoStatus;
  failure?: string;
  progress?: number;
  durationSeconds?: number;
  width?: number;
  height?: number;
  size?: number;
  fileName?: string;
  createdAt: string;
  stream?: string;
  playback?: Playback;
}

export interface VideoPage {
  videos: Video[] | null;
  nextPageToken: string;
}
