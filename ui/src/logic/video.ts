// The video frame messages from the backend, and a meter of what reaches the screen.

export type FrameKind = 'remote' | 'local';

export interface VideoMessage { kind: FrameKind; callId: string; width: number; height: number; jpeg: Uint8Array }

/** Layout (see src-tauri/src/media.rs): kind u8 (0 remote, 1 local), id length u8, callId, width u16 LE,
 * height u16 LE, JPEG. */
export function parseVideoMessage(buffer: ArrayBuffer): VideoMessage | null {
  const bytes = new Uint8Array(buffer);
  if (bytes.length < 6) return null;
  const idLength = bytes[1];
  const at = 2 + idLength;
  if (bytes.length < at + 4 || bytes[0] > 1) return null;
  const view = new DataView(buffer, at, 4);
  return {
    kind: bytes[0] === 0 ? 'remote' : 'local',
    callId: new TextDecoder().decode(bytes.subarray(2, at)),
    width: view.getUint16(0, true),
    height: view.getUint16(2, true),
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
