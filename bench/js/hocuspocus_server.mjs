// Hocuspocus (@hocuspocus/server) for bench/relay_bench.py: `node hocuspocus_server.mjs --port P`.
// Documents in memory, no extensions, its defaults otherwise (updates of one event-loop turn merged per
// document). Prints `hocuspocus listening on ws://127.0.0.1:P/` once it listens; stops on SIGTERM/SIGINT.
import { Server } from '@hocuspocus/server'

const args = process.argv.slice(2)
const at = args.indexOf('--port')
const port = at >= 0 ? Number(args[at + 1]) : 1234

const server = new Server({ port, address: '127.0.0.1', quiet: true })
await server.listen()
console.log(`hocuspocus listening on ws://127.0.0.1:${port}/`)

const stop = async () => {
  await server.destroy()
  process.exit(0)
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
