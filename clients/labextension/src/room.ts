/**
 * The student's connection to a classroom room (`classroom/{id}`): the projection of the teacher's shared
 * cells, read-only (the relay drops this client's document updates and relays its awareness).
 *
 * The room is reached on the relay websocket route the stock document provider uses
 * (`{wsUrl}api/collaboration/room/{room}`), with the page's Jupyter auth: the login cookie, plus the
 * token as a query parameter when the page's server settings append one (as for kernel websockets).
 *
 * Lifecycle: `new ClassroomRoom(...)` connects; {@link ClassroomRoom.dispose} disconnects and clears the
 * awareness state. A close with code 4404 (no such session: it ended) ends the connection for good and
 * is reported once through {@link ClassroomRoom.ended}; other drops reconnect with y-websocket's backoff.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection, User } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';
import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';

/** Close code of a room whose classroom session does not run (schema/close_codes.json). */
export const SESSION_ENDED = 4404;

/** The teacher's position as the server projects it into `meta["follow"]`. */
export interface IFollow {
  cell: string | null;
  top: string | null;
  teacher: string;
  at: number;
}

/** One shared cell of the projection, read from its Y.Map. */
export interface IProjectedCell {
  id: string;
  cell_type: string;
  source: string;
  source_hash: string;
  execution_count: number | null;
  outputs?: any[];
}

export class ClassroomRoom {
  readonly doc = new Y.Doc();
  private readonly _provider: WebsocketProvider;
  private readonly _changed = new Signal<this, void>(this);
  private readonly _ended = new Signal<this, string>(this);
  private readonly _status = new Signal<this, boolean>(this);
  private _disposed = false;

  constructor(room: string, user: User.IIdentity | null, following: boolean) {
    const settings = ServerConnection.makeSettings();
    const params: { [key: string]: string } = {};
    if (settings.token && settings.appendToken) {
      params.token = settings.token;
    }
    this._provider = new WebsocketProvider(URLExt.join(settings.wsUrl, 'api/collaboration/room'), room, this.doc, {
      params,
      disableBc: true,
      WebSocketPolyfill: settings.WebSocket as any
    });
    this.setPresence(user, following);
    this._provider.on('connection-close', (event: CloseEvent | null) => {
      if (event?.code === SESSION_ENDED && !this._disposed) {
        this._provider.disconnect(); // no reconnection: the session is gone
        this._ended.emit(event.reason || 'the classroom session ended');
      }
    });
    this._provider.on('status', ({ status }: { status: string }) => this._status.emit(status === 'connected'));
    this.doc.on('update', () => this._changed.emit());
  }

  /** The projection changed (cells, sources, outputs, meta). */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** The session ended (close code 4404): the reason the server gave. */
  get ended(): ISignal<this, string> {
    return this._ended;
  }

  /** Connected (true) or connection lost (false). */
  get connection(): ISignal<this, boolean> {
    return this._status;
  }

  get synced(): boolean {
    return this._provider.synced;
  }

  /** The shared cells, in the teacher's order. */
  cells(): IProjectedCell[] {
    const cells = this.doc.getArray<Y.Map<any>>('cells');
    return cells.toArray().map(cell => {
      const source = cell.get('source');
      return {
        id: String(cell.get('id')),
        cell_type: String(cell.get('cell_type') ?? ''),
        source: source instanceof Y.Text ? source.toString() : String(source ?? ''),
        source_hash: String(cell.get('source_hash') ?? ''),
        execution_count: cell.get('execution_count') ?? null,
        outputs: cell.has('outputs') ? toPlain(cell.get('outputs')) : undefined
      };
    });
  }

  /** The teacher's position, or null while the server has none (or predates it). */
  follow(): IFollow | null {
    const value = toPlain(this.doc.getMap('meta').get('follow'));
    return value && typeof value === 'object' ? (value as IFollow) : null;
  }

  /** The session's teacher (display name when the server gives one, else the user name). */
  teacher(): string | null {
    const meta = this.doc.getMap('meta');
    const session = toPlain(meta.get('session'));
    return session?.teacher ?? meta.get('teacher') ?? null;
  }

  /** Publish this student's presence: JupyterLab identity and whether they follow the teacher. */
  setPresence(user: User.IIdentity | null, following: boolean): void {
    const awareness = this._provider.awareness;
    awareness.setLocalState({ ...(user ? { user: identity(user) } : {}), classroom: { following } });
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    this._provider.awareness.setLocalState(null);
    this._provider.destroy();
    this.doc.destroy();
    Signal.clearData(this);
  }
}

function identity(user: User.IIdentity): { [key: string]: string } {
  return {
    username: user.username,
    name: user.name,
    display_name: user.display_name,
    initials: user.initials,
    color: user.color
  };
}

function toPlain(value: any): any {
  if (value instanceof Y.AbstractType) {
    return value.toJSON();
  }
  return value;
}
