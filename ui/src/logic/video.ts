// The video frame messages from the backend, and a meter of what reaches the screen.

export type FrameKind = 'remote' | 'local';

export interface VideoMessage { kind: FrameKind; callId: string; width: number; height: number; /** base64 */ jpeg: string }

/** A channel message (see src-tauri/src/media.rs): `{kind: 0 remote | 1 local, callId, width, height,
 * jpeg: base64}`; `null` for anything else. */
export function parseVideoMessage(data: unknown): VideoMessage | null {
  if (typeof data !== 'object' || data === null) return null;
  const m = data as Record<string, unknown>;
  if ((m.kind !== 0 && m.kind !== 1) || typeof m.callId !== 'string' || typeof m.jpeg !== 'string') return null;
  if (typeof m.width !== 'number' || typeof m.height !== 'number') return null;
  return { kind: m.kind === 0 ? 'remote' : 'local', callId: m.callId, width: m.width, height: m.height, jpeg: m.jpeg };
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
