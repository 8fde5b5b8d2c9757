/**
 * The teacher's side: starting and ending classroom sessions on notebooks, and the sidebar panel that
 * shows a session's join code, link, outputs choice and class list.
 *
 * {@link TeacherSessions} owns the sessions this user runs on this server (restored from
 * GET /api/rtc/classrooms at start, so a reload keeps them) and, for each one whose notebook is open,
 * the publisher of the teacher's position ({@link TeacherPosition}). {@link TeacherPanel} renders the
 * session of the current notebook; its class list is fetched every {@link CLASS_REFRESH_MS} while the
 * panel is visible, and soon after the notebook changes (a shared cell edited: who is up to date moves).
 */
import { Clipboard } from '@jupyterlab/apputils';
import { PageConfig, URLExt } from '@jupyterlab/coreutils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { ISignal, Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';

import * as api from './api';
import { groupCode } from './code';
import { button, el } from './dom';
import { TeacherPosition } from './position';
import { isShared } from './shared';

export const CLASS_REFRESH_MS = 3000;

export class TeacherSessions {
  private readonly _sessions = new Map<string, api.ISession>(); // by notebook path
  private readonly _positions = new Map<string, TeacherPosition>(); // by notebook path
  private readonly _changed = new Signal<this, void>(this);

  constructor(
    private readonly _tracker: INotebookTracker,
    private readonly _username: () => string | null
  ) {
    _tracker.widgetAdded.connect((_, panel) => this._attach(panel));
    _tracker.forEach(panel => this._attach(panel));
  }

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** The running session on notebook `path`, if this user started one. */
  forPath(path: string | undefined): api.ISession | null {
    return (path && this._sessions.get(path)) || null;
  }

  all(): api.ISession[] {
    return [...this._sessions.values()];
  }

  /** Sessions this user already runs on the server (after a reload). Errors: none kept (logged). */
  async restore(): Promise<void> {
    try {
      const mine = (await api.listSessions()).filter(s => s.teacher === this._username());
      for (const session of mine) {
        this._add(session);
      }
    } catch (error) {
      // a user without write access to the server runs no sessions: nothing to restore
      console.debug('classroom: no sessions to restore', error);
    }
  }

  /** Start a session on the notebook of `panel` (the server follows the document this page edits). */
  async start(panel: NotebookPanel, outputs: boolean): Promise<api.ISession> {
    const existing = this.forPath(panel.context.path);
    if (existing) {
      return existing;
    }
    const session = await api.startSession(panel.context.path, outputs);
    this._add(session);
    return session;
  }

  async end(session: api.ISession): Promise<void> {
    try {
      await api.endSession(session.id);
    } finally {
      this._remove(session.path);
    }
  }

  private _add(session: api.ISession): void {
    this._sessions.set(session.path, session);
    this._tracker.forEach(panel => this._attach(panel));
    this._changed.emit();
  }

  private _remove(path: string): void {
    this._sessions.delete(path);
    this._positions.get(path)?.dispose();
    this._positions.delete(path);
    this._changed.emit();
  }

  /** Publish the teacher's position in `panel` while a session runs on its notebook. */
  private _attach(panel: NotebookPanel): void {
    void panel.context.ready.then(() => {
      const session = this.forPath(panel.context.path);
      const current = this._positions.get(panel.context.path);
      if (!session || (current && !current.isDisposed && current.session === session.id)) {
        return;
      }
      current?.dispose();
      const position = new TeacherPosition(panel, session.id);
      this._positions.set(panel.context.path, position);
      panel.disposed.connect(() => {
        if (this._positions.get(panel.context.path) === position) {
          this._positions.delete(panel.context.path);
        }
      });
    });
  }
}

/** The sidebar panel of the teacher (id `jp-rtc-classroom-teacher`). */
export class TeacherPanel extends Widget {
  private _timer = 0;
  private _classTimer = 0;
  private _class: api.IClass | null = null;
  private _error = '';
  private _busy = false;
  private _outputs = false;
  private _watched: NotebookPanel | null = null;

  constructor(
    private readonly _sessions: TeacherSessions,
    private readonly _tracker: INotebookTracker,
    private readonly _share: (panel: NotebookPanel) => Promise<void>
  ) {
    super();
    this.id = 'jp-rtc-classroom-teacher';
    this.addClass('jp-rtc-Classroom');
    this.addClass('jp-rtc-TeacherPanel');
    this.title.caption = 'Class (teacher)';
    _sessions.changed.connect(() => this._reloadClass(), this);
    _tracker.currentChanged.connect(() => this._reloadClass(), this);
    this._render();
  }

  /** Share outputs in the next session started here (the checkbox of this panel). */
  get shareOutputs(): boolean {
    return this._outputs;
  }

  private _current(): { panel: NotebookPanel | null; session: api.ISession | null } {
    const panel = this._tracker.currentWidget;
    const session = this._sessions.forPath(panel?.context.path) ?? (panel ? null : (this._sessions.all()[0] ?? null));
    return { panel, session };
  }

  protected onAfterShow(): void {
    this._reloadClass();
    this._timer = window.setInterval(() => this._fetchClass(), CLASS_REFRESH_MS);
  }

  protected onBeforeHide(): void {
    window.clearInterval(this._timer);
    this._timer = 0;
  }

  dispose(): void {
    window.clearInterval(this._timer);
    window.clearTimeout(this._classTimer);
    super.dispose();
  }

  private _reloadClass(): void {
    this._class = null;
    this._watch(this._tracker.currentWidget);
    this._render();
    void this._fetchClass();
  }

  /** Refresh the class list soon after the teacher's notebook changes (one fetch per second at most). */
  private _watch(panel: NotebookPanel | null): void {
    if (this._watched === panel) {
      return;
    }
    this._watched?.content.modelContentChanged.disconnect(this._soon, this);
    this._watched = panel;
    panel?.content.modelContentChanged.connect(this._soon, this);
  }

  private _soon(): void {
    if (!this._classTimer) {
      this._classTimer = window.setTimeout(() => {
        this._classTimer = 0;
        void this._fetchClass();
      }, 1000);
    }
  }

  private async _fetchClass(): Promise<void> {
    const { session } = this._current();
    if (!session || !this.isVisible) {
      return;
    }
    try {
      this._class = await api.classOf(session.id);
      this._error = '';
    } catch (error) {
      this._error = `The class list could not be fetched: ${(error as Error).message}`;
    }
    this._render();
  }

  private async _act(action: () => Promise<void>): Promise<void> {
    this._busy = true;
    this._error = '';
    this._render();
    try {
      await action();
    } catch (error) {
      this._error = (error as Error).message;
    } finally {
      this._busy = false;
      this._render();
    }
  }

  private _render(): void {
    const { panel, session } = this._current();
    const body: HTMLElement[] = [el('h2', { class: 'jp-rtc-title' }, 'Class')];
    if (!session) {
      body.push(...this._renderIdle(panel));
    } else {
      body.push(...this._renderSession(session, panel));
    }
    if (this._error) {
      body.push(el('div', { class: 'jp-rtc-error', role: 'alert', 'data-test': 'teacher-error' }, this._error));
    }
    this.node.replaceChildren(...body);
  }

  private _renderIdle(panel: NotebookPanel | null): HTMLElement[] {
    const outputs = el('input', { type: 'checkbox', 'data-test': 'share-outputs' }) as HTMLInputElement;
    outputs.checked = this._outputs;
    outputs.addEventListener('change', () => (this._outputs = outputs.checked));
    const start = button('Share with class', 'share-start', () => panel && this._act(() => this._share(panel)));
    start.disabled = !panel || this._busy;
    const running = this._sessions.all().map(session =>
      el('li', { 'data-test': 'running-session' }, `${session.path}: code ${groupCode(session.code)}`)
    );
    return [
      ...(running.length ? [el('p', { class: 'jp-rtc-hint' }, 'Your running sessions (open the notebook to see its class):'), el('ul', {}, ...running)] : []),
      el(
        'p',
        { class: 'jp-rtc-hint' },
        panel
          ? `Share chosen cells of ${panel.context.path} with your class: mark cells with the share toggle of the cell toolbar, then start a session.`
          : 'Open a notebook to share its cells with your class.'
      ),
      el('label', { class: 'jp-rtc-option' }, outputs, ' Share outputs too'),
      start
    ];
  }

  private _renderSession(session: api.ISession, panel: NotebookPanel | null): HTMLElement[] {
    const link = URLExt.join(PageConfig.getBaseUrl(), 'lab') + `?classroom=${encodeURIComponent(session.code)}`;
    const linkInput = el('input', { class: 'jp-mod-styled jp-rtc-link', readonly: '', 'data-test': 'classroom-link' });
    (linkInput as HTMLInputElement).value = link;
    const cells = this._sharedCells(session, panel);
    const end = button('End session', 'classroom-end', () => this._act(() => this._sessions.end(session)), 'warn');
    end.disabled = this._busy;
    return [
      el('p', { class: 'jp-rtc-hint' }, `Sharing ${session.path}. Students join with this code:`),
      el('div', { class: 'jp-rtc-code', 'data-test': 'classroom-code', 'aria-label': 'join code' }, groupCode(session.code)),
      el(
        'div',
        { class: 'jp-rtc-row' },
        linkInput,
        button('Copy link', 'classroom-copy-link', () => Clipboard.copyToSystem(link))
      ),
      el(
        'p',
        { class: 'jp-rtc-hint', 'data-test': 'classroom-outputs' },
        session.outputs ? 'Outputs are shared with the class.' : 'Outputs are not shared (sources only).'
      ),
      el('h3', {}, `Class (${this._class?.students.length ?? 0})`),
      this._renderClass(cells),
      end
    ];
  }

  /** The shared cells, in order, as (id, short label): from the open notebook, else the session's list. */
  private _sharedCells(session: api.ISession, panel: NotebookPanel | null): { id: string; label: string }[] {
    if (panel && panel.context.path === session.path && panel.model) {
      const shared = [];
      for (const model of panel.model.cells) {
        if (isShared(model)) {
          shared.push({ id: model.id, label: model.sharedModel.getSource().split('\n')[0].slice(0, 60) });
        }
      }
      return shared;
    }
    return session.shared.map(id => ({ id, label: id }));
  }

  private _renderClass(cells: { id: string; label: string }[]): HTMLElement {
    const students = this._class?.students ?? [];
    if (!students.length) {
      return el('p', { class: 'jp-rtc-hint', 'data-test': 'classroom-class' }, 'No student has joined yet.');
    }
    const head = el(
      'tr',
      {},
      el('th', {}, 'Student'),
      el('th', { title: 'In the classroom now' }, 'Here'),
      el('th', { title: 'Following you' }, 'Follows'),
      ...cells.map((cell, index) => el('th', { title: cell.label }, `#${index + 1}`))
    );
    const rows = students.map(student => {
      const following = student.following === true ? 'yes' : student.following === false ? 'no' : '–';
      return el(
        'tr',
        { 'data-test': 'classroom-student', 'data-user': student.user },
        el('td', { class: 'jp-rtc-student-name' }, student.name || student.user),
        el('td', { 'data-test': 'joined' }, student.joined === undefined ? '–' : student.joined ? 'yes' : 'no'),
        el('td', { 'data-test': 'following' }, following),
        ...cells.map(cell => {
          const state = student.up_to_date.includes(cell.id)
            ? 'up-to-date'
            : cell.id in student.pulled
              ? 'outdated'
              : 'not-pulled';
          const mark = { 'up-to-date': '✓', outdated: '↻', 'not-pulled': '–' }[state];
          return el('td', { 'data-cell': cell.id, 'data-state': state, title: state.replace(/-/g, ' ') }, mark);
        })
      );
    });
    return el('table', { class: 'jp-rtc-class', 'data-test': 'classroom-class' }, el('thead', {}, head), el('tbody', {}, ...rows));
  }
}
