/**
 * Which cells of a teacher's notebook are shared with the class: `{"jupyter-rtc": {"shared": true}}` in the
 * cell's metadata. The toggle writes through the notebook model, so the mark is in the shared document
 * (the server projects it at once) and in the file. {@link SharedCellMarks} gives shared cells the CSS class
 * `jp-rtc-mod-shared` in a notebook, following metadata changes from any collaborator.
 */
import { ICellModel } from '@jupyterlab/cells';
import { Notebook, NotebookPanel } from '@jupyterlab/notebook';
import { IDisposable } from '@lumino/disposable';
import { Signal } from '@lumino/signaling';

export const META_KEY = 'jupyter-rtc';
export const SHARED_CLASS = 'jp-rtc-mod-shared';

export function isShared(model: ICellModel): boolean {
  const value = model.getMetadata(META_KEY) as any;
  return !!value && typeof value === 'object' && value.shared === true;
}

/** Share (or stop sharing) one cell; other keys under `jupyter-rtc` are kept. */
export function setShared(model: ICellModel, shared: boolean): void {
  const value = model.getMetadata(META_KEY) as any;
  const current = value && typeof value === 'object' ? { ...value } : {};
  if (shared) {
    model.setMetadata(META_KEY, { ...current, shared: true });
    return;
  }
  delete current.shared;
  if (Object.keys(current).length) {
    model.setMetadata(META_KEY, current);
  } else {
    model.deleteMetadata(META_KEY);
  }
}

/** Keeps `jp-rtc-mod-shared` on the shared cells of one notebook until disposed (or the panel closes). */
export class SharedCellMarks implements IDisposable {
  private _disposed = false;
  private _frame = 0;
  private readonly _watched = new Set<ICellModel>();

  constructor(private readonly _panel: NotebookPanel) {
    const notebook = _panel.content;
    notebook.modelContentChanged.connect(this._schedule, this);
    notebook.modelChanged.connect(this._schedule, this);
    _panel.disposed.connect(() => this.dispose());
    this._schedule();
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  /** Mark now (the next animation frame); several changes of one frame: one pass. */
  private _schedule(): void {
    if (!this._frame && !this._disposed) {
      this._frame = requestAnimationFrame(() => {
        this._frame = 0;
        this._mark(this._panel.content);
      });
    }
  }

  private _mark(notebook: Notebook): void {
    if (this._disposed) {
      return;
    }
    for (const cell of notebook.widgets) {
      const model = cell.model;
      if (!this._watched.has(model)) {
        this._watched.add(model);
        model.metadataChanged.connect(this._schedule, this);
      }
      cell.toggleClass(SHARED_CLASS, isShared(model));
    }
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    cancelAnimationFrame(this._frame);
    for (const model of this._watched) {
      model.metadataChanged.disconnect(this._schedule, this);
    }
    this._watched.clear();
    Signal.disconnectReceiver(this);
  }
}
