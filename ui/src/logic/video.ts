// The video frame messages from the backend, and a meter of what reaches the screen.

export type FrameKind = 'remote' | 'local';

export interface VideoMessage { kind: FrameKind; callId: string; width: number; height: number; jpeg: Uint8Array }

/** Layout (see src-tauri/src/media.rs): kind u8 (0 remote, 1 local), id length u8, callId, width u16 LE,
 * height u16 LE, JPEG. */
export function parseVideoMessage(data: ArrayBuffer | ArrayBufferView | number[]): VideoMessage | null {
  // Tauri hands raw channel payloads over as an ArrayBuffer, but not always from this page's realm
  // (nor, on some paths, as an ArrayBuffer at all): accept what can be read as bytes.
  const bytes = ArrayBuffer.isView(data)
    ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
    : new Uint8Array(data as ArrayLike<number>);
  if (bytes.length < 6) return null;
  const idLength = bytes[1];
  const at = 2 + idLength;
  if (bytes.length < at + 4 || bytes[0] > 1) return null;
  return {
    kind: bytes[0] === 0 ? 'remote' : 'local',
    callId: new TextDecoder().decode(bytes.subarray(2, at)),
    width: bytes[at] | (bytes[at + 1] << 8),
    height: bytes[at + 2] | (bytes[at + 3] << 8),
    jpeg: bytes.subarray(at + 4),
  };
}

/** Frames per second over a sliding window, and the mean time a frame took to decode and draw. */
export class FrameMeter {
  private times: number[] = [];
  frames = 0;
  dropped = 0;
  private costTotal = 0;

  constructor(private windowMs = 2000) {}

  /** A frame was drawn at `now`, having cost `costMs` to decode and draw. */
  drawn(now: number, costMs: number) {
    this.frames++;
    this.costTotal += costMs;
    this.times.push(now);
    while (this.times.length > 0 && this.times[0] <= now - this.windowMs) this.times.shift();
  }

  fps(now: number): number {
    const recent = this.times.filter((t) => t > now - this.windowMs);
    return recent.length / (this.windowMs / 1000);
  }

  meanCostMs(): number {
    return this.frames === 0 ? 0 : this.costTotal / this.frames;
  }
}
