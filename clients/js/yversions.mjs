#!/usr/bin/env node
/**
 * yversions.mjs: one y-websocket provider of a chosen major version, driven over stdin/stdout, for
 * tests that check every supported provider against the relay.
 *
 * Usage:  node yversions.mjs VERSION URL ROOM [TOKEN]
 *   VERSION 1: y-websocket 1.x (npm alias y-websocket-1) with yjs 13;
 *           3: y-websocket 3.x (npm y-websocket) with yjs 13;
 *           4: y-websocket 4.0 release candidate (vendor/y-websocket-4.0.0-rc.2, `npm ci --ignore-scripts`
 *              there) with Yjs 14 (@y/y from that folder, the instance the provider itself uses).
 *   `ws` is the WebSocket implementation (node 20 has none built in); no BroadcastChannel.
 *
 * The contract is yclient.mjs's (one JSON command per stdin line, one JSON event per stdout line, each
 * answer repeating the command's "id"), for the subset of commands every version supports:
 *   {"cmd":"insert","name":N,"index":I,"text":S}   insert S at I in the text N          -> ok
 *   {"cmd":"insert_many","name":N,"index":I,"text":S,"count":C}   C inserts of S at I, in one tick -> ok
 *   {"cmd":"get","text":[N..]}  -> {"event":"state","text":{N:str},"synced":bool,"version":V,
 *                                   "sync_status":SyncStatus|null}
 *   {"cmd":"wait_text","name":N,"equals":S,"timeout":SEC} -> {"event":"text","name":N,"value":S} once the
 *        text N equals S (checked now and after every change), or an error after SEC seconds (default 5)
 *   {"cmd":"wait_sync_status","equals":{K:V..},"timeout":SEC} -> {"event":"sync_status","value":SyncStatus}
 *        once every K of the provider's syncStatus equals V (checked now, on every 'sync-status' event and
 *        every 100 ms), or an error after SEC seconds. Version 4 only (older providers have no syncStatus).
 *   {"cmd":"close"} -> {"event":"bye"}, then exit 0 (end of stdin does the same)
 * Unsolicited events: {"event":"status",...}, {"event":"synced"}, {"event":"closed","code":C,"reason":R},
 * and for version 4 {"event":"sync_status","value":SyncStatus} on each 'sync-status' event.
 * Errors: {"event":"error","message":M} (with "id" and "cmd" when caused by a command).
 */

import WebSocket from 'ws'
import { createInterface } from 'node:readline'

const [version, url, room, token] = process.argv.slice(2)

const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')
const fail = (message, extra = {}) => emit({ event: 'error', message: String(message), ...extra })
process.on('uncaughtException', (err) => { fail(`uncaught: ${err?.stack ?? err}`); process.exit(1) })
process.on('unhandledRejection', (err) => { fail(`unhandled rejection: ${err?.stack ?? err}`); process.exit(1) })

const V4 = './vendor/y-websocket-4.0.0-rc.2/'
/** Per version: the provider module, the Yjs module, and how to reach a root text. */
const flavours = {
  1: { provider: 'y-websocket-1', yjs: 'yjs', text: (doc, name) => doc.getText(name) },
  3: { provider: 'y-websocket', yjs: 'yjs', text: (doc, name) => doc.getText(name) },
  4: {
    provider: new URL(V4 + 'src/y-websocket.js', import.meta.url).href,
    yjs: new URL(V4 + 'node_modules/@y/y/src/index.js', import.meta.url).href,
    text: (doc, name) => doc.get(name)
  }
}
const flavour = flavours[version]
if (!flavour || !url || !room) {
  fail('usage: node yversions.mjs 1|3|4 URL ROOM [TOKEN]')
  process.exit(2)
}
const Y = await import(flavour.yjs)
const { WebsocketProvider } = await import(flavour.provider)

const doc = new Y.Doc()
const provider = new WebsocketProvider(url, room, doc, {
  WebSocketPolyfill: WebSocket,
  disableBc: true,
  params: token ? { token } : {},
  connect: false
})
const text = (name) => flavour.text(doc, name)
const syncStatus = () => (version === '4' ? provider.syncStatus : null)

/** Pending waits, re-checked after every transaction, sync-status event and 100 ms. */
const waiters = new Set()
const recheck = () => { for (const waiter of [...waiters]) waiter.check() }
doc.on('afterTransaction', recheck)
setInterval(recheck, 100).unref()

provider.on('status', ({ status }) => emit({ event: 'status', status }))
provider.on('sync', (synced) => { if (synced) emit({ event: 'synced' }) })
provider.on('connection-close', (event) => emit({ event: 'closed', code: event?.code ?? null, reason: event?.reason ?? '' }))
provider.on('sync-status', (value) => { emit({ event: 'sync_status', value }); recheck() })
provider.connect()

const reply = (msg, obj) => emit(msg.id === undefined ? obj : { ...obj, id: msg.id })

const waitFor = (msg, matches, answer, describe) => {
  const timeoutSec = msg.timeout ?? 5
  const waiter = {
    check () {
      if (!matches()) return false
      clearTimeout(waiter.timer)
      waiters.delete(waiter)
      reply(msg, answer())
      return true
    }
  }
  if (waiter.check()) return
  waiter.timer = setTimeout(() => {
    waiters.delete(waiter)
    fail(`timeout after ${timeoutSec}s: ${msg.cmd}: ${describe()}`, { id: msg.id, cmd: msg.cmd })
  }, timeoutSec * 1000)
  waiters.add(waiter)
}

let closing = false
const close = async (msg = {}) => {
  if (closing) return
  closing = true
  const ws = provider.ws
  provider.destroy()
  if (ws && ws.readyState !== ws.CLOSED) {
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, 2000)
      ws.addEventListener('close', () => { clearTimeout(timer); resolve() })
    })
  }
  reply(msg, { event: 'bye' })
  process.exit(0)
}

const handle = (msg) => {
  switch (msg.cmd) {
    case 'insert':
      text(msg.name).insert(msg.index, msg.text)
      return reply(msg, { event: 'ok', cmd: msg.cmd })
    case 'insert_many': // one edit after the other in the same tick: one update message each
      for (let i = 0; i < msg.count; i++) text(msg.name).insert(msg.index, msg.text)
      return reply(msg, { event: 'ok', cmd: msg.cmd })
    case 'get':
      return reply(msg, {
        event: 'state',
        text: Object.fromEntries((msg.text ?? []).map((name) => [name, text(name).toString()])),
        synced: provider.synced,
        version,
        sync_status: syncStatus()
      })
    case 'wait_text':
      return waitFor(msg, () => text(msg.name).toString() === msg.equals,
        () => ({ event: 'text', name: msg.name, value: msg.equals }),
        () => `text ${msg.name} is ${JSON.stringify(text(msg.name).toString())}, want ${JSON.stringify(msg.equals)}`)
    case 'wait_sync_status':
      if (version !== '4') return fail(`y-websocket ${version} has no sync status`, { id: msg.id, cmd: msg.cmd })
      return waitFor(msg, () => Object.entries(msg.equals).every(([k, v]) => provider.syncStatus[k] === v),
        () => ({ event: 'sync_status', value: provider.syncStatus }),
        () => `sync status is ${JSON.stringify(provider.syncStatus)}, want ${JSON.stringify(msg.equals)}`)
    case 'close':
      return close(msg)
    default:
      return fail(`unknown command ${JSON.stringify(msg.cmd)}`, { id: msg.id, cmd: msg.cmd })
  }
}

createInterface({ input: process.stdin }).on('line', (line) => {
  if (!line.trim()) return
  let msg
  try {
    msg = JSON.parse(line)
  } catch (err) {
    return fail(`not JSON: ${line.slice(0, 200)}`)
  }
  try {
    handle(msg)
  } catch (err) {
    fail(err?.stack ?? err, { id: msg.id, cmd: msg.cmd })
  }
}).on('close', () => close())
