#!/usr/bin/env node
/**
 * yclient.mjs: a real Yjs client (yjs + y-websocket's WebsocketProvider) driven over stdin/stdout,
 * for interoperability tests of the relay.
 *
 * Usage:  node yclient.mjs URL ROOM [TOKEN]
 *   Connects a WebsocketProvider to URL/ROOM (with ?token=TOKEN when TOKEN is given),
 *   using `ws` as the WebSocket implementation and no BroadcastChannel.
 *
 * Contract
 * --------
 * stdin:  one JSON command per line. Every command may carry an "id" (any JSON value); the one
 *         answer to that command repeats it, so a driver can match answers to commands.
 * stdout: one JSON object per line, each with an "event" field. Nothing else is ever printed on
 *         stdout (diagnostics from the libraries go to stderr).
 *
 * Commands and their answer (each command gets exactly one answer: the one named, or an error):
 *   {"cmd":"insert","name":N,"index":I,"text":S}      Y.Text N: insert S at I (UTF-16 units)  -> ok
 *   {"cmd":"delete","name":N,"index":I,"length":L}    Y.Text N: delete L units at I           -> ok
 *   {"cmd":"map_set","name":N,"key":K,"value":V}      Y.Map N: set K to the JSON value V      -> ok
 *   {"cmd":"map_delete","name":N,"key":K}             Y.Map N: delete K                       -> ok
 *   {"cmd":"array_push","name":N,"values":[...]}      Y.Array N: append JSON values           -> ok
 *        (with "as_maps":true each value, a JSON object, is appended as a Y.Map of its entries,
 *         as jupyterlab-chat's frontend appends a message)
 *   {"cmd":"get","text":[N..],"map":[N..],"array":[N..]}
 *        -> {"event":"state","text":{N:str},"map":{N:obj},"array":{N:list},
 *            "client_id":int,"synced":bool}
 *        (names default to [] for each kind; with no kind given at all, every root already
 *         used as a Y.Text / Y.Map / Y.Array by this client is reported)
 *   {"cmd":"wait_text","name":N,"equals":S,"timeout":SEC}
 *        -> {"event":"text","name":N,"value":S} as soon as Y.Text N equals S (checked now and
 *           after every change of the document), or an error after SEC seconds (default 5)
 *   {"cmd":"wait_map","name":N,"equals":OBJ,"timeout":SEC}
 *        -> {"event":"map","name":N,"value":OBJ}, same as wait_text for Y.Map N (JSON equality)
 *   {"cmd":"awareness","state":OBJ|null}              set (null: clear) local awareness  -> ok
 *   {"cmd":"insert_at","path":P,"index":I,"text":S}   the Y.Text at path P: insert S at I (UTF-16)  -> ok
 *   {"cmd":"delete_at","path":P,"index":I,"length":L} the Y.Text at path P: delete L units at I    -> ok
 *   {"cmd":"get_at","path":P}  -> {"event":"value","path":P,"value":V} (a Y.Text as a string, else JSON)
 *   {"cmd":"wait_at","path":P,"equals":V,"timeout":SEC} -> {"event":"value",...} once the value at P
 *        JSON-equals V (checked now and after every change), or an error after SEC seconds (default 5)
 *        A path P is [root, key or index, ...]: the root is a Y.Array when the next step is a number,
 *        a Y.Map when it is a string, a Y.Text when P has one element; e.g. ["cells", 0, "source"].
 *   {"cmd":"close"}                                   destroy the provider, wait (at most 2 s)
 *        for the socket to close -> {"event":"bye"}, then exit with status 0
 *   "ok" is {"event":"ok","cmd":CMD}.
 *
 * Unsolicited events:
 *   {"event":"status","status":"connecting"|"connected"|"disconnected"}
 *   {"event":"synced"}                               each time the provider becomes synced
 *   {"event":"awareness","states":{clientId: state}} on every awareness change (own state included)
 *   {"event":"closed","code":C,"reason":R}           the websocket closed (code null: closed by us)
 *   {"event":"stopped","code":C,"reason":R}          the provider gave up reconnecting (4400-4499)
 *   {"event":"connection_error","message":M}        the websocket reported an error
 *
 * Errors: {"event":"error","message":M} (plus "id" and "cmd" when caused by a command). Bad
 * input never stops the client; an uncaught exception prints an error and exits with status 1.
 * End of stdin behaves like "close", so a client never outlives its driver.
 */

import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import WebSocket from 'ws'
import { createInterface } from 'node:readline'

const [url, room, token] = process.argv.slice(2)

/** Print one event as a JSON line. */
const emit = (obj) => {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

const fail = (message, extra = {}) => emit({ event: 'error', message: String(message), ...extra })

process.on('uncaughtException', (err) => {
  fail(`uncaught: ${err && err.stack ? err.stack : err}`)
  process.exit(1)
})
process.on('unhandledRejection', (err) => {
  fail(`unhandled rejection: ${err && err.stack ? err.stack : err}`)
  process.exit(1)
})

if (!url || !room) {
  fail('usage: node yclient.mjs URL ROOM [TOKEN]')
  process.exit(2)
}

const doc = new Y.Doc()
const provider = new WebsocketProvider(url, room, doc, {
  WebSocketPolyfill: WebSocket,
  disableBc: true,
  params: token ? { token } : {},
  connect: false // connected below, once every listener is in place
})
const awareness = provider.awareness

provider.on('status', ({ status }) => emit({ event: 'status', status }))
provider.on('sync', (synced) => { if (synced) emit({ event: 'synced' }) })
provider.on('connection-close', (event) => {
  emit(event == null
    ? { event: 'closed', code: null, reason: '' }
    : { event: 'closed', code: event.code ?? null, reason: event.reason ?? '' })
})
provider.on('closed', ({ code, reason }) => emit({ event: 'stopped', code, reason }))
provider.on('connection-error', (event) => {
  emit({ event: 'connection_error', message: String(event?.message ?? event?.error ?? 'websocket error') })
})
awareness.on('change', () => {
  emit({ event: 'awareness', states: Object.fromEntries(awareness.getStates()) })
})
provider.connect()

// -- waiting for a condition on the document, re-checked after every transaction -----------------

/** Pending waits: each has a check() returning true once answered. */
const waiters = new Set()

doc.on('afterTransaction', () => {
  for (const waiter of [...waiters]) waiter.check()
})

/**
 * Answer `answer(current)` as soon as `current()` JSON-equals `expected`, or an error after
 * `timeoutSec` seconds.
 */
const waitFor = (msg, current, expected, answer, timeoutSec) => {
  const want = JSON.stringify(expected)
  const waiter = {
    msg,
    check () {
      const value = current()
      if (JSON.stringify(value) !== want) return false
      clearTimeout(waiter.timer)
      waiters.delete(waiter)
      reply(msg, answer(value))
      return true
    }
  }
  if (waiter.check()) return
  waiter.timer = setTimeout(() => {
    waiters.delete(waiter)
    fail(`timeout after ${timeoutSec}s: ${msg.cmd} ${msg.name} is ${JSON.stringify(current())}, want ${want}`,
      { id: msg.id, cmd: msg.cmd })
  }, timeoutSec * 1000)
  waiters.add(waiter)
}

// -- commands ---------------------------------------------------------------------------------------

const reply = (msg, obj) => emit(msg.id === undefined ? obj : { ...obj, id: msg.id })
const ok = (msg) => reply(msg, { event: 'ok', cmd: msg.cmd })

const need = (msg, field, type) => {
  const v = msg[field]
  const okType = type === 'array' ? Array.isArray(v) : typeof v === type // eslint-disable-line valid-typeof
  if (!okType) throw new Error(`${msg.cmd}: "${field}" must be a ${type}`)
  return v
}

/** Roots this client used, by kind (Yjs cannot tell the kind of a root it never typed). */
const rootsOfKind = (Kind) => [...doc.share.entries()].filter(([, t]) => t instanceof Kind).map(([n]) => n)

let closing = false

/** The shared type (or value) at `path`; throws when a step does not exist. */
const resolve = (path) => {
  if (!Array.isArray(path) || path.length === 0) throw new Error('"path" must be a non-empty array')
  const [root, ...steps] = path
  let node = steps.length === 0
    ? doc.getText(root)
    : (typeof steps[0] === 'number' ? doc.getArray(root) : doc.getMap(root))
  for (const step of steps) {
    const next = node instanceof Y.Array ? node.get(step) : (node instanceof Y.Map ? node.get(step) : undefined)
    if (next === undefined) throw new Error(`nothing at ${JSON.stringify(path)} (step ${JSON.stringify(step)})`)
    node = next
  }
  return node
}

const valueAt = (path) => {
  const node = resolve(path)
  if (node instanceof Y.Text) return node.toString()
  return node instanceof Y.AbstractType ? node.toJSON() : node
}

const textAt = (path) => {
  const node = resolve(path)
  if (!(node instanceof Y.Text)) throw new Error(`${JSON.stringify(path)} is not a Y.Text`)
  return node
}

const commands = {
  insert (msg) {
    doc.getText(need(msg, 'name', 'string')).insert(need(msg, 'index', 'number'), need(msg, 'text', 'string'))
    ok(msg)
  },
  delete (msg) {
    doc.getText(need(msg, 'name', 'string')).delete(need(msg, 'index', 'number'), need(msg, 'length', 'number'))
    ok(msg)
  },
  map_set (msg) {
    if (!('value' in msg)) throw new Error('map_set: "value" is required')
    doc.getMap(need(msg, 'name', 'string')).set(need(msg, 'key', 'string'), msg.value)
    ok(msg)
  },
  map_delete (msg) {
    doc.getMap(need(msg, 'name', 'string')).delete(need(msg, 'key', 'string'))
    ok(msg)
  },
  array_push (msg) {
    const values = need(msg, 'values', 'array')
    doc.getArray(need(msg, 'name', 'string')).push(msg.as_maps
      ? values.map((value) => {
        if (value === null || typeof value !== 'object' || Array.isArray(value)) {
          throw new Error('array_push: with "as_maps" every value must be a JSON object')
        }
        return new Y.Map(Object.entries(value))
      })
      : values)
    ok(msg)
  },
  get (msg) {
    const any = ['text', 'map', 'array'].some((k) => k in msg)
    const names = (kind, Kind) => (any ? (msg[kind] ?? []) : rootsOfKind(Kind))
    reply(msg, {
      event: 'state',
      text: Object.fromEntries(names('text', Y.Text).map((n) => [n, doc.getText(n).toString()])),
      map: Object.fromEntries(names('map', Y.Map).map((n) => [n, doc.getMap(n).toJSON()])),
      array: Object.fromEntries(names('array', Y.Array).map((n) => [n, doc.getArray(n).toJSON()])),
      client_id: doc.clientID,
      synced: provider.synced
    })
  },
  wait_text (msg) {
    const name = need(msg, 'name', 'string')
    const text = doc.getText(name)
    waitFor(msg, () => text.toString(), need(msg, 'equals', 'string'),
      (value) => ({ event: 'text', name, value }), msg.timeout ?? 5)
  },
  wait_map (msg) {
    const name = need(msg, 'name', 'string')
    const map = doc.getMap(name)
    waitFor(msg, () => sortKeys(map.toJSON()), sortKeys(need(msg, 'equals', 'object')),
      (value) => ({ event: 'map', name, value }), msg.timeout ?? 5)
  },
  awareness (msg) {
    if (!('state' in msg)) throw new Error('awareness: "state" is required (null clears it)')
    awareness.setLocalState(msg.state)
    ok(msg)
  },
  insert_at (msg) {
    textAt(need(msg, 'path', 'array')).insert(need(msg, 'index', 'number'), need(msg, 'text', 'string'))
    ok(msg)
  },
  delete_at (msg) {
    textAt(need(msg, 'path', 'array')).delete(need(msg, 'index', 'number'), need(msg, 'length', 'number'))
    ok(msg)
  },
  get_at (msg) {
    const path = need(msg, 'path', 'array')
    reply(msg, { event: 'value', path, value: valueAt(path) })
  },
  wait_at (msg) {
    const path = need(msg, 'path', 'array')
    const current = () => { try { return sortKeys(valueAt(path)) } catch { return undefined } }
    waitFor(msg, current, sortKeys(msg.equals), (value) => ({ event: 'value', path, value }), msg.timeout ?? 5)
  },
  close (msg) {
    shutdown(msg)
  }
}

/** JSON with object keys sorted, so that equality does not depend on key order. */
const sortKeys = (v) => {
  if (Array.isArray(v)) return v.map(sortKeys)
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys(v[k])]))
  }
  return v
}

/** Destroy the provider, let the socket send its last frames and close, then exit 0. */
const shutdown = (msg) => {
  if (closing) return
  closing = true
  for (const waiter of waiters) {
    clearTimeout(waiter.timer)
    fail('client closed while waiting', { id: waiter.msg.id, cmd: waiter.msg.cmd })
  }
  waiters.clear()
  const ws = provider.ws
  const socketClosed = new Promise((resolve) => {
    if (ws == null || ws.readyState === WebSocket.CLOSED) return resolve()
    ws.addEventListener('close', resolve)
    setTimeout(resolve, 2000).unref()
  })
  provider.destroy() // sends our awareness removal, then closes the socket
  awareness.destroy()
  socketClosed.then(() => {
    doc.destroy()
    process.stdout.write(JSON.stringify(msg?.id === undefined ? { event: 'bye' } : { event: 'bye', id: msg.id }) + '\n',
      () => process.exit(0))
  })
}

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity })
rl.on('line', (line) => {
  if (!line.trim()) return
  let msg
  try {
    msg = JSON.parse(line)
  } catch (err) {
    fail(`invalid JSON: ${err.message}: ${line.slice(0, 200)}`)
    return
  }
  if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) {
    fail(`a command must be a JSON object: ${line.slice(0, 200)}`)
    return
  }
  if (closing) {
    fail('client is closing', { id: msg.id, cmd: msg.cmd })
    return
  }
  const handler = Object.hasOwn(commands, msg.cmd) ? commands[msg.cmd] : undefined
  if (!handler) {
    fail(`unknown command ${JSON.stringify(msg.cmd)}`, { id: msg.id, cmd: msg.cmd })
    return
  }
  try {
    handler(msg)
  } catch (err) {
    fail(err && err.message ? err.message : err, { id: msg.id, cmd: msg.cmd })
  }
})
rl.on('close', () => shutdown(undefined))
