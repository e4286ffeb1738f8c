// The time stamp of `nagare bench glass` and `nagare bench webrtc-glass`, in the browser: the same row of
// boxes that internal/bench/glass.go (stampCode) draws and reads, so that a page can read it (glass.html,
// the WHEP viewer of webrtc-glass.html) and draw it (the WHIP publisher). The layout comes as "x,y,cell,cols": cell 0 white, cell 1 black, then 40
// cells, most significant bit first: the low 32 bits of a time in ms and their CRC-8 (polynomial 0x07).
// Pure functions, so that internal/bench/webrtc_test.go can check them against the Go code with node.

export const BITS = 40;
export const CELLS = 2 + BITS;

// parseCode turns "x,y,cell,cols" into the layout, with the width and height the code covers.
export function parseCode(s) {
  const [x, y, cell, cols] = s.split(',').map(Number);
  if (![x, y, cell, cols].every((v) => Number.isInteger(v) && v >= 0) || cell < 4 || cols < 1) {
    throw new Error(`bad stamp code ${s}`);
  }
  return { x, y, cell, cols, w: Math.min(CELLS, cols) * cell, h: Math.ceil(CELLS / cols) * cell };
}

export function crc8(v) {
  let crc = 0;
  for (let i = 3; i >= 0; i--) {
    crc ^= (v >>> (8 * i)) & 0xff;
    for (let b = 0; b < 8; b++) crc = crc & 0x80 ? ((crc << 1) ^ 0x07) & 0xff : (crc << 1) & 0xff;
  }
  return crc;
}

// cellsOf returns, for a time in ms (its low 32 bits are used), whether each cell is white.
export function cellsOf(ms) {
  const v = Math.floor(ms) % 2 ** 32 >>> 0;
  const crc = crc8(v);
  const white = [true, false];
  for (let i = 0; i < BITS; i++) {
    white.push(i < 32 ? ((v >>> (31 - i)) & 1) === 1 : ((crc >>> (39 - i)) & 1) === 1);
  }
  return white;
}

// cellRect is where cell i is, relative to the code's top left corner.
export function cellRect(code, i) {
  return { x: (i % code.cols) * code.cell, y: Math.floor(i / code.cols) * code.cell };
}

// readStamp returns the stamp in an RGBA picture of the code's area (code.w × code.h pixels), or -1 when
// the references are not apart or the CRC does not match. Like stampCode.read: the mean luma of the
// middle half of each cell against the midpoint of the two reference cells.
export function readStamp(code, rgba) {
  const q = code.cell / 4;
  const mean = (i) => {
    const { x: x0, y: y0 } = cellRect(code, i);
    let sum = 0, n = 0;
    for (let y = y0 + q; y < y0 + code.cell - q; y++) {
      for (let x = x0 + q; x < x0 + code.cell - q; x++) {
        const o = (y * code.w + x) * 4;
        sum += 0.299 * rgba[o] + 0.587 * rgba[o + 1] + 0.114 * rgba[o + 2];
        n++;
      }
    }
    return sum / n;
  };
  const white = mean(0), black = mean(1);
  if (white - black < 64) return -1;
  const mid = (white + black) / 2;
  let ms = 0, crc = 0;
  for (let i = 0; i < BITS; i++) {
    const bit = mean(2 + i) > mid ? 1 : 0;
    if (i < 32) ms = ms * 2 + bit; else crc = crc * 2 + bit;
  }
  return crc8(ms) === crc ? ms : -1;
}

// since turns a 32-bit stamp into ms before now (a time in ms; the stamp is at most 2^31 ms away from it).
export function since(now, stamp) {
  const d = ((now % 2 ** 32) - stamp + 2 ** 32) % 2 ** 32;
  return d >= 2 ** 31 ? d - 2 ** 32 : d;
}
