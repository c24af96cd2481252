// The video notices from the backend, and a meter of what reaches the screen.

export type FrameKind = 'remote' | 'local';

/** A new picture of a stream; the picture itself is loaded from `backend.frameUrl`. */
export interface VideoMessage { kind: FrameKind; callId: string; width: number; height: number; seq: number }

/** A channel notice (see src-tauri/src/media.rs): `{kind: 0 remote | 1 local, callId, width,
 * height, seq}`; `null` for anything else. */
export function parseVideoMessage(data: unknown): VideoMessage | null {
  if (typeof data !== 'object' || data === null) return null;
  const m = data as Record<string, unknown>;
  if ((m.kind !== 0 && m.kind !== 1) || typeof m.callId !== 'string' || typeof m.seq !== 'number') return null;
  if (typeof m.width !== 'number' || typeof m.height !== 'number') return null;
  return { kind: m.kind === 0 ? 'remote' : 'local', callId: m.callId, width: m.width, height: m.height, seq: m.seq };
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
