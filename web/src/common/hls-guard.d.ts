// Types of hls-guard.js for the Vite-built pages (web/src).
import type Hls from "hls.js";

/** guardLiveRate attaches nagare's step-down guard to hls and returns a function that detaches it;
 * onStepDown is told the estimate (bit/s) hls.js starts again from, each time the guard acts. */
export default function guardLiveRate(hls: Hls, HlsClass: typeof Hls, onStepDown?: (rate: number) => void): () => void;
