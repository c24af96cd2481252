// Where a popup menu goes so that all of it can be seen: inside the scrolling list that holds it
// (which clips it) and inside the window.

export interface Box { left: number; top: number; right: number; bottom: number }

/** The part of `a` that is also inside `b`. */
export function intersect(a: Box, b: Box): Box {
  return { left: Math.max(a.left, b.left), top: Math.max(a.top, b.top), right: Math.min(a.right, b.right), bottom: Math.min(a.bottom, b.bottom) };
}

/**
 * How far to move `menu` (as laid out, opening downwards below its anchor) to lie inside `bounds`.
 * Sideways it moves just enough (its left edge wins when it is wider than the bounds). When its
 * bottom is cut off it opens upwards instead, its bottom at `flipBottom` (the top of the button
 * that opened it), if it fits there; else it moves up just enough (its top wins).
 */
export function fitInside(menu: Box, bounds: Box, flipBottom: number): { dx: number; dy: number } {
  let dx = 0;
  if (menu.right > bounds.right) dx = bounds.right - menu.right;
  if (menu.left + dx < bounds.left) dx = bounds.left - menu.left;
  let dy = 0;
  if (menu.bottom > bounds.bottom) {
    const up = flipBottom - menu.bottom;
    dy = menu.top + up >= bounds.top ? up : bounds.bottom - menu.bottom;
  }
  if (menu.top + dy < bounds.top) dy = bounds.top - menu.top;
  return { dx, dy };
}
