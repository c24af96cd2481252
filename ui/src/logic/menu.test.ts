import { describe, expect, it } from 'vitest';

import { fitInside, intersect } from './menu';

const box = (left: number, top: number, width: number, height: number) => ({ left, top, right: left + width, bottom: top + height });
const list = box(300, 50, 700, 600); // 300..1000 across, 50..650 down

describe('fitInside', () => {
  it('leaves a menu that fits where it is', () => {
    expect(fitInside(box(320, 100, 260, 120), list, 80)).toEqual({ dx: 0, dy: 0 });
  });

  it('moves a menu cut off on the left (opened leftwards from a short bubble at the left edge) to the right', () => {
    expect(fitInside(box(120, 100, 260, 120), list, 80)).toEqual({ dx: 180, dy: 0 });
  });

  it('moves a menu cut off on the right to the left', () => {
    expect(fitInside(box(900, 100, 260, 120), list, 80)).toEqual({ dx: -160, dy: 0 });
  });

  it('keeps the left edge when the menu is wider than the list', () => {
    expect(fitInside(box(250, 100, 800, 120), box(300, 50, 400, 600), 80).dx).toBe(50);
  });

  it('opens upwards above its button when its bottom is cut off', () => {
    // Laid out at 600..720, the button's top at 578: it goes to 458..578.
    expect(fitInside(box(320, 600, 260, 120), list, 578)).toEqual({ dx: 0, dy: -142 });
  });

  it('moves up just enough when it fits neither below nor above', () => {
    expect(fitInside(box(320, 150, 260, 520), list, 130)).toEqual({ dx: 0, dy: -20 });
    // Taller than the list: its top stays visible.
    expect(fitInside(box(320, 150, 260, 700), list, 130)).toEqual({ dx: 0, dy: -100 });
  });
});

describe('intersect', () => {
  it('is the common part', () => {
    expect(intersect(box(0, 0, 100, 100), box(50, 20, 100, 30))).toEqual({ left: 50, top: 20, right: 100, bottom: 50 });
  });
});
