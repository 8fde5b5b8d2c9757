/**
 * The teacher's position in a notebook, published while a classroom session runs on it: the local
 * awareness field `classroom` = `{session, cell, top}` of the notebook's own shared model (the awareness
 * the document provider syncs in the notebook room), from which the server projects `meta.follow`.
 *
 * `cell` is the active cell's id, `top` the id of the first cell visible at the top of the notebook's
 * viewport. Updates follow active-cell changes and scrolling, at most one per {@link THROTTLE_MS}
 * (the last position of a burst is always sent). Disposing removes the field.
 */
import { NotebookPanel } from '@jupyterlab/notebook';
import { IDisposable } from '@lumino/disposable';
import { Signal } from '@lumino/signaling';

export const THROTTLE_MS = 200; // at most 5 updates a second

export class TeacherPosition implements IDisposable {
  private _disposed = false;
  private _timer = 0;
  private _last = 0;
  private readonly _scroller: HTMLElement;

  constructor(
    private readonly _panel: NotebookPanel,
    private readonly _session: string
  ) {
    const notebook = _panel.content;
    this._scroller = notebook.outerNode ?? notebook.node;
    this._onScroll = this._onScroll.bind(this);
    this._scroller.addEventListener('scroll', this._onScroll, { passive: true });
    notebook.activeCellChanged.connect(this._schedule, this);
    notebook.modelContentChanged.connect(this._schedule, this);
    _panel.disposed.connect(() => this.dispose());
    this._publish();
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  get session(): string {
    return this._session;
  }

  private _onScroll(): void {
    this._schedule();
  }

  private _schedule(): void {
    if (this._disposed || this._timer) {
      return;
    }
    const wait = Math.max(0, this._last + THROTTLE_MS - Date.now());
    this._timer = window.setTimeout(() => {
      this._timer = 0;
      this._publish();
    }, wait);
  }

  private _awareness(): any {
    return (this._panel.context.model.sharedModel as any).awareness ?? null;
  }

  private _publish(): void {
    const awareness = this._awareness();
    if (this._disposed || !awareness) {
      return;
    }
    this._last = Date.now();
    const notebook = this._panel.content;
    const active = notebook.activeCell?.model.id ?? null;
    const value = { session: this._session, cell: active, top: this._top() };
    const current = awareness.getLocalState()?.classroom;
    if (!current || current.session !== value.session || current.cell !== value.cell || current.top !== value.top) {
      awareness.setLocalStateField('classroom', value);
    }
  }

  /** The first cell whose bottom is below the top edge of the viewport (or null: no cells). */
  private _top(): string | null {
    const edge = this._scroller.getBoundingClientRect().top;
    for (const cell of this._panel.content.widgets) {
      const rect = cell.node.getBoundingClientRect();
      if (rect.height > 0 && rect.bottom > edge + 1) {
        return cell.model.id;
      }
    }
    return null;
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    window.clearTimeout(this._timer);
    this._scroller.removeEventListener('scroll', this._onScroll);
    Signal.disconnectReceiver(this);
    const awareness = this._awareness();
    if (awareness && awareness.getLocalState()) {
      awareness.setLocalStateField('classroom', null);
    }
  }
}
