/**
 * The student's sidebar panel "Classroom" (id `jp-rtc-classroom`): join a session by code (or the
 * `?classroom=CODE` link), see the teacher's shared cells live from the classroom room, what changed since
 * the last pull, a diff against the student's cell, and pull a cell into the active notebook (a new cell,
 * or in place of the one pulled before). Nothing is written into a notebook without that click.
 *
 * Following the teacher (see {@link Follow}) keeps the teacher's `top` shared cell at the top of the list
 * and highlights the teacher's active cell; a banner says whether the student follows. The student's
 * presence in the room (`classroom.following`) follows that state.
 *
 * What the student pulled is fetched (GET .../join/{code}/cells for the active notebook) at join, when the
 * active notebook changes, after each pull, and {@link STATUS_DELAY_MS} after the projection changes.
 */
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { User } from '@jupyterlab/services';
import { IStateDB } from '@jupyterlab/statedb';
import { Widget } from '@lumino/widgets';

import * as api from './api';
import { groupCode } from './code';
import { SharedCellView } from './cellview';
import { button, el } from './dom';
import { Follow } from './follow';
import { ClassroomRoom } from './room';

export const STATUS_DELAY_MS = 400;
const STATE_KEY = '@jupyter-rtc/classroom:joined'; // the code of the session joined (this workspace)

export class StudentPanel extends Widget {
  private readonly _input: HTMLInputElement;
  private readonly _form: HTMLElement;
  private readonly _header = el('div', { class: 'jp-rtc-header' });
  private readonly _banner = el('div', { class: 'jp-rtc-banner', 'data-test': 'follow-banner', role: 'status' });
  private readonly _message = el('div', { class: 'jp-rtc-error', role: 'alert', 'data-test': 'student-error' });
  private readonly _list = el('div', { class: 'jp-rtc-cells', 'data-test': 'classroom-cells', tabindex: '0' });
  private readonly _spacer = el('div', { class: 'jp-rtc-spacer-end' });
  private readonly _views = new Map<string, SharedCellView>();
  private readonly _follow: Follow;
  private _session: api.ISession | null = null;
  private _room: ClassroomRoom | null = null;
  private _status = new Map<string, api.ICellStatus>();
  private _statusTimer = 0;
  private _frame = 0;
  private _busy = false;
  private _watched: NotebookPanel | null = null;

  constructor(
    private readonly _tracker: INotebookTracker,
    private readonly _user: User.IManager,
    private readonly _state: IStateDB | null
  ) {
    super();
    this.id = 'jp-rtc-classroom';
    this.addClass('jp-rtc-Classroom');
    this.addClass('jp-rtc-StudentPanel');
    this.title.caption = 'Classroom';
    this._input = el('input', {
      class: 'jp-mod-styled jp-rtc-code-input',
      placeholder: 'Join code, e.g. K7QM-3X9A',
      'aria-label': 'join code',
      'data-test': 'join-code',
      autocomplete: 'off',
      spellcheck: 'false'
    }) as HTMLInputElement;
    this._input.addEventListener('keydown', event => {
      if (event.key === 'Enter') {
        void this.join(this._input.value);
      }
    });
    this._form = el('div', { class: 'jp-rtc-row' }, this._input, button('Join', 'join-button', () => this.join(this._input.value)));
    this._follow = new Follow(this._list);
    this._follow.changed.connect(() => this._onFollowChanged(), this);
    this._banner.addEventListener('click', event => {
      if ((event.target as HTMLElement).closest('[data-test="follow-button"]')) {
        this._follow.follow();
      }
    });
    _tracker.currentChanged.connect(() => {
      this._watchNotebook();
      void this._refreshStatus();
    }, this);
    this._watchNotebook();
    this._message.hidden = true;
    this._list.append(this._spacer);
    this.node.append(el('h2', { class: 'jp-rtc-title' }, 'Classroom'), this._form, this._message, this._header, this._banner, this._list);
    this._renderJoined();
  }

  /** Put `code` into the join field (the `?classroom=` link). */
  prefill(code: string): void {
    this._input.value = groupCode(code);
  }

  /** Join the session of `code`: errors (bad code, server unreachable) are shown in the panel. */
  async join(code: string): Promise<void> {
    if (!code.trim()) {
      this._showError('Enter the join code your teacher gave you.');
      return;
    }
    this._showError('');
    let session: api.ISession;
    try {
      session = await api.join(code);
    } catch (error) {
      this._showError((error as Error).message);
      return;
    }
    this.leave();
    await this._user.ready;
    this._session = session;
    this._room = new ClassroomRoom(session.room, this._user.identity, this._follow.following);
    this._room.changed.connect(() => this._schedule(true), this);
    this._room.ended.connect(() => this._ended(), this);
    this._room.connection.connect((_, connected) => this._connection(connected), this);
    void this._state?.save(STATE_KEY, session.code);
    this._follow.follow();
    this._renderJoined();
    this._refreshStatus();
  }

  /**
   * Join again the session this workspace was in before a reload, if it still runs (silently: a session
   * that ended meanwhile is forgotten).
   */
  async rejoin(): Promise<void> {
    const code = (await this._state?.fetch(STATE_KEY)) as string | undefined;
    if (!code || this._session) {
      return;
    }
    try {
      await api.join(code);
    } catch {
      void this._state?.remove(STATE_KEY);
      return;
    }
    await this.join(code);
  }

  /** Leave the session: the room is closed, the list emptied. */
  leave(): void {
    if (this._session) {
      void this._state?.remove(STATE_KEY);
    }
    this._room?.dispose();
    this._room = null;
    this._session = null;
    this._status.clear();
    for (const view of this._views.values()) {
      view.node.remove();
    }
    this._views.clear();
    this._renderJoined();
  }

  dispose(): void {
    this.leave();
    this._follow.dispose();
    window.clearTimeout(this._statusTimer);
    cancelAnimationFrame(this._frame);
    super.dispose();
  }

  private _connection(connected: boolean): void {
    if (this._room) {
      this._showError(connected ? '' : 'Connection to the classroom lost: reconnecting…');
    }
  }

  private _ended(): void {
    void this._state?.remove(STATE_KEY);
    this._room?.dispose();
    this._room = null;
    this._showError('The classroom session has ended: the teacher closed it.');
    this._renderJoined();
    this._render();
  }

  private _showError(text: string): void {
    this._message.textContent = text;
    this._message.hidden = !text;
  }

  /** The source of cell `id` of the active notebook, as its model holds it now (null: not there). */
  private _studentSource(id: string | undefined): string | null {
    const model = this._tracker.currentWidget?.model;
    if (!id || !model) {
      return null;
    }
    for (const cell of model.cells) {
      if (cell.id === id) {
        return cell.sharedModel.getSource();
      }
    }
    return null;
  }

  /** Follow the active notebook's edits (the diffs against the student's cells change with them). */
  private _watchNotebook(): void {
    const panel = this._tracker.currentWidget;
    if (panel === this._watched) {
      return;
    }
    this._watched?.content.modelContentChanged.disconnect(this._onNotebookEdited, this);
    this._watched = panel;
    panel?.content.modelContentChanged.connect(this._onNotebookEdited, this);
  }

  private _onNotebookEdited(): void {
    if (this._room) {
      this._schedule(false);
    }
  }

  private _notebookPath(): string | null {
    return this._tracker.currentWidget?.context.path ?? null;
  }

  private _onFollowChanged(): void {
    this._room?.setPresence(this._user.identity, this._follow.following);
    this._schedule(false);
  }

  private _renderJoined(): void {
    const session = this._session;
    this._form.hidden = !!session && !!this._room;
    this._banner.hidden = !this._room;
    if (!session) {
      this._header.replaceChildren();
      return;
    }
    this._header.replaceChildren(
      el('span', { 'data-test': 'joined-code' }, `Session ${groupCode(session.code)}`),
      el('span', { class: 'jp-rtc-spacer' }),
      button('Leave', 'leave-button', () => this.leave(), 'reject')
    );
  }

  /** Render on the next frame (several room updates of one frame: one render); status a little later. */
  private _schedule(statusToo: boolean): void {
    if (!this._frame) {
      this._frame = requestAnimationFrame(() => {
        this._frame = 0;
        this._render();
      });
    }
    if (statusToo && !this._statusTimer) {
      this._statusTimer = window.setTimeout(() => {
        this._statusTimer = 0;
        this._refreshStatus();
      }, STATUS_DELAY_MS);
    }
  }

  private async _refreshStatus(): Promise<void> {
    const session = this._session;
    if (!session || !this._room) {
      return;
    }
    try {
      const cells = await api.cellStatus(session.code, this._notebookPath());
      if (session === this._session) {
        this._status = new Map(cells.map(cell => [cell.id, cell]));
        this._schedule(false);
      }
    } catch (error) {
      if ((error as api.ClassroomError).status !== 404) {
        this._showError(`Could not read what you pulled: ${(error as Error).message}`);
      }
    }
  }

  private async _pull(cellId: string, replace: boolean): Promise<void> {
    const session = this._session;
    const path = this._notebookPath();
    if (!session || !path) {
      return;
    }
    this._busy = true;
    this._render();
    try {
      await api.pull(session.code, cellId, path, replace);
      this._showError('');
    } catch (error) {
      this._showError((error as Error).message);
    } finally {
      this._busy = false;
      await this._refreshStatus();
      this._render();
    }
  }

  private _render(): void {
    const room = this._room;
    const follow = room?.follow() ?? null;
    const teacher = follow?.teacher || room?.teacher() || this._session?.teacher || 'the teacher';
    if (this._follow.following) {
      this._banner.replaceChildren(
        el('span', { class: 'jp-rtc-banner-text' }, follow ? `Following ${teacher}` : `Following — waiting for ${teacher}`)
      );
      this._banner.dataset.state = 'following';
    } else {
      this._banner.replaceChildren(
        el('span', { class: 'jp-rtc-banner-text' }, 'Not following — '),
        el('button', { class: 'jp-Button jp-mod-styled jp-mod-accept', 'data-test': 'follow-button' }, 'Follow')
      );
      this._banner.dataset.state = 'not-following';
    }
    if (!room) {
      return;
    }
    const cells = room.cells();
    const path = this._notebookPath();
    const wanted = new Set(cells.map(cell => cell.id));
    for (const [id, view] of this._views) {
      if (!wanted.has(id)) {
        view.node.remove();
        this._views.delete(id);
      }
    }
    let previous: Element | null = null;
    for (const cell of cells) {
      let view = this._views.get(cell.id);
      if (!view) {
        view = new SharedCellView(cell.id, { pull: (id, replace) => void this._pull(id, replace) });
        this._views.set(cell.id, view);
      }
      const expected: Element | null = previous ? previous.nextElementSibling : this._list.firstElementChild;
      if (expected !== view.node) {
        this._list.insertBefore(view.node, expected);
      }
      previous = view.node;
      const status = this._status.get(cell.id) ?? null;
      view.update(cell, status, this._studentSource(status?.student_cell_id), !!path, this._busy);
      view.setTeacherActive(cell.id === follow?.cell);
    }
    this._list.dataset.empty = cells.length ? 'false' : 'true';
    // room below the last cell, so that any cell can be scrolled to the top while following
    this._spacer.style.height = this._follow.following ? `${Math.max(0, this._list.clientHeight - 40)}px` : '0px';
    if (follow?.top) {
      this._follow.align(this._views.get(follow.top)?.node ?? null);
    }
  }
}
