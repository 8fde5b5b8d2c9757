/**
 * The classroom REST API of the jupyter-rtc server (under the Jupyter base URL, with the page's Jupyter
 * auth), as typed calls. Every call resolves with the answer's JSON body, or rejects with a
 * {@link ClassroomError} carrying the server's catalogued error code and message.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** A session as POST /api/rtc/classrooms and GET .../join/{code} answer it. */
export interface ISession {
  id: string;
  code: string;
  room: string;
  path: string;
  teacher: string;
  outputs: boolean;
  shared: string[];
}

/** One student in GET .../{id}/class; fields of presence are absent on servers without them. */
export interface IStudent {
  user: string;
  name?: string;
  joined?: boolean;
  following?: boolean | null;
  pulled: { [cellId: string]: string };
  up_to_date: string[];
}

export interface IClass {
  id: string;
  code: string;
  students: IStudent[];
}

/** One shared cell with what this student pulled of it (GET .../join/{code}/cells). */
export interface ICellStatus {
  id: string;
  cell_type: string;
  source: string;
  source_hash: string;
  pulled_hash: string | null;
  changed: boolean;
  student_cell_id?: string;
  diff?: string;
}

/** An error answer of the server: `code` from its REST error catalogue, `status` the HTTP status. */
export class ClassroomError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number
  ) {
    super(message);
  }
}

const BASE = 'api/rtc/classrooms';

async function request<T>(path: string, init: RequestInit = {}): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, BASE, path);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new ClassroomError('network', `The server could not be reached (${error})`, 0);
  }
  const text = await response.text();
  let body: any = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!response.ok) {
    const message = body?.message ?? `${response.status} ${response.statusText}`;
    throw new ClassroomError(body?.error ?? 'http', message, response.status);
  }
  return body as T;
}

function post<T>(path: string, body: unknown): Promise<T> {
  return request<T>(path, { method: 'POST', body: JSON.stringify(body) });
}

/** Teacher: start a session on notebook `path` (server-relative), sharing outputs or not. */
export function startSession(path: string, outputs: boolean): Promise<ISession> {
  return post<ISession>('', { path, outputs });
}

/** Teacher: this server's running sessions. */
export async function listSessions(): Promise<ISession[]> {
  return (await request<{ classrooms: ISession[] }>('')).classrooms;
}

export function endSession(id: string): Promise<ISession> {
  return request<ISession>(encodeURIComponent(id), { method: 'DELETE' });
}

export function classOf(id: string): Promise<IClass> {
  return request<IClass>(`${encodeURIComponent(id)}/class`);
}

/** Student: the session of a join code (the server ignores case, spaces and dashes). */
export function join(code: string): Promise<ISession> {
  return request<ISession>(`join/${encodeURIComponent(code)}`);
}

/** Student: each shared cell against the student's notebook `path` (or the server's records without one). */
export async function cellStatus(code: string, path: string | null): Promise<ICellStatus[]> {
  const query = path ? `?path=${encodeURIComponent(path)}` : '';
  const answer = await request<{ cells: ICellStatus[] }>(`join/${encodeURIComponent(code)}/cells${query}`);
  return answer.cells;
}

/** Student: put the teacher's version of `cellId` into notebook `path`, new or in place of the last pull. */
export function pull(code: string, cellId: string, path: string, replace: boolean): Promise<unknown> {
  return post(`join/${encodeURIComponent(code)}/pull`, { cell_id: cellId, path, replace });
}
