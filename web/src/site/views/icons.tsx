// icons: the player's control icons as inline SVG (no icon font, no emoji font needed).
import type { ComponentChildren } from "preact";
const svg = (children: ComponentChildren) => (
  <svg class="icon-svg" viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" focusable="false">
    {children}
  </svg>
);

export const PlayIcon = () => svg(<path d="M8 5v14l11-7z" fill="currentColor" />);
export const PauseIcon = () => svg(<path d="M6 5h4v14H6zM14 5h4v14h-4z" fill="currentColor" />);
export const SoundIcon = () =>
  svg(
    <>
      <path d="M3 9v6h4l5 5V4L7 9H3z" fill="currentColor" />
      <path d="M15.5 8.5a5 5 0 0 1 0 7M18 6a8.5 8.5 0 0 1 0 12" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" />
    </>,
  );
export const MutedIcon = () =>
  svg(
    <>
      <path d="M3 9v6h4l5 5V4L7 9H3z" fill="currentColor" />
      <path d="M16 9l5 6M21 9l-5 6" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" />
    </>,
  );
export const FullscreenIcon = () =>
  svg(<path d="M4 9V4h5M15 4h5v5M20 15v5h-5M9 20H4v-5" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" />);
