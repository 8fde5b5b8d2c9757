/**
 * Following the teacher in the student's cell list: on by default; while on, the list is scrolled (by
 * this code) so the teacher's `top` shared cell is at its top. The student breaks away by scrolling the
 * list themselves (wheel, touch, scrolling keys: programmatic scrolls raise none of these events) or by
 * editing a notebook (an input event inside `.jp-Notebook`); {@link Follow.follow} turns it on again.
 * {@link Follow.changed} reports each change of state (to update the banner and the room presence).
 */
import { ISignal, Signal } from '@lumino/signaling';

const SCROLL_KEYS = new Set(['ArrowUp', 'ArrowDown', 'PageUp', 'PageDown', 'Home', 'End', ' ']);

export class Follow {
  private _following = true;
  private readonly _changed = new Signal<this, boolean>(this);
  private readonly _list: HTMLElement;

  constructor(list: HTMLElement) {
    this._list = list;
    this._breakAway = this._breakAway.bind(this);
    this._onKey = this._onKey.bind(this);
    this._onInput = this._onInput.bind(this);
    list.addEventListener('wheel', this._breakAway, { passive: true });
    list.addEventListener('touchmove', this._breakAway, { passive: true });
    list.addEventListener('keydown', this._onKey);
    document.addEventListener('beforeinput', this._onInput, true);
  }

  get following(): boolean {
    return this._following;
  }

  get changed(): ISignal<this, boolean> {
    return this._changed;
  }

  follow(): void {
    this._set(true);
  }

  /** Scroll the list so that `cell` (a child element of the list) is at its top, if following. */
  align(cell: HTMLElement | null): void {
    if (!this._following || !cell) {
      return;
    }
    const target = cell.offsetTop; // the list is the cells' offset parent (position: relative)
    if (Math.abs(this._list.scrollTop - target) > 1) {
      this._list.scrollTo({ top: target, behavior: 'auto' });
    }
  }

  private _breakAway(): void {
    this._set(false);
  }

  private _onKey(event: KeyboardEvent): void {
    if (SCROLL_KEYS.has(event.key)) {
      this._set(false);
    }
  }

  private _onInput(event: Event): void {
    const target = event.target as HTMLElement | null;
    if (target?.closest?.('.jp-Notebook')) {
      this._set(false);
    }
  }

  private _set(value: boolean): void {
    if (value !== this._following) {
      this._following = value;
      this._changed.emit(value);
    }
  }

  dispose(): void {
    this._list.removeEventListener('wheel', this._breakAway);
    this._list.removeEventListener('touchmove', this._breakAway);
    this._list.removeEventListener('keydown', this._onKey);
    document.removeEventListener('beforeinput', this._onInput, true);
    Signal.clearData(this);
  }
}
