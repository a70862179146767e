// Interop harness: a JSON-lines bridge between waproto's Python tests and Baileys.
//
// Requests arrive on stdin, one JSON object a line: {"id": 1, "op": "binary.v6.encode", "args": {...}}.
// Each gets exactly one answer, written to the file descriptor named by $WAP_HARNESS_FD (not stdout: Baileys and its
// dependencies may log there): {"id": 1, "ok": true, "result": ...} or {"id": 1, "ok": false, "error": "..."}.
// Bytes cross the bridge as {"$b": "<base64>"} in both directions.
//
// Operations come from the modules in ./ops/: each exports `ops`, an object mapping an op name to
// `async (args, ctx) => result`. `ctx.handles` keeps stateful objects (a noise handler, a socket)
// between calls: `ctx.put(obj)` returns a handle number, `ctx.get(h)` and `ctx.drop(h)` use it.
import { createInterface } from 'node:readline'
import { createWriteStream } from 'node:fs'
import { readdir } from 'node:fs/promises'

const out = createWriteStream(null, { fd: Number(process.env.WAP_HARNESS_FD ?? 3) })

export function toWire(value) {
  if (value instanceof Uint8Array) return { $b: Buffer.from(value).toString('base64') }
  if (Array.isArray(value)) return value.map(toWire)
  if (value && typeof value === 'object') {
    if (typeof value.toJSON === 'function' && !(value instanceof Date)) value = value.toJSON()
    const o = {}
    for (const [k, v] of Object.entries(value)) if (v !== undefined) o[k] = toWire(v)
    return o
  }
  if (typeof value === 'bigint') return value.toString()
  return value
}

export function fromWire(value) {
  if (Array.isArray(value)) return value.map(fromWire)
  if (value && typeof value === 'object') {
    if (typeof value.$b === 'string' && Object.keys(value).length === 1) return Buffer.from(value.$b, 'base64')
    const o = {}
    for (const [k, v] of Object.entries(value)) o[k] = fromWire(v)
    return o
  }
  return value
}

const ops = {}
const opsDir = new URL('./ops/', import.meta.url)
for (const file of (await readdir(opsDir)).filter((f) => f.endsWith('.mjs')).sort()) {
  const mod = await import(new URL(file, opsDir))
  for (const [name, fn] of Object.entries(mod.ops ?? {})) {
    if (name in ops) throw new Error(`op ${name} defined twice (ops/${file})`)
    ops[name] = fn
  }
}

const handles = new Map()
let nextHandle = 1
const ctx = {
  handles,
  put(obj) { const h = nextHandle++; handles.set(h, obj); return h },
  get(h) {
    if (!handles.has(h)) throw new Error(`no handle ${h}`)
    return handles.get(h)
  },
  drop(h) { handles.delete(h) },
}

ops['harness.ops'] = async () => Object.keys(ops).sort()
ops['harness.echo'] = async (args) => args

// Answer strictly in order, one request at a time: the Python side is synchronous.
let chain = Promise.resolve()
const rl = createInterface({ input: process.stdin, crlfDelay: Infinity })
rl.on('line', (line) => {
  chain = chain.then(async () => {
    let id = null
    let reply
    try {
      const req = JSON.parse(line)
      id = req.id
      const fn = ops[req.op]
      if (!fn) throw new Error(`unknown op ${JSON.stringify(req.op)}`)
      reply = { id, ok: true, result: toWire(await fn(fromWire(req.args ?? {}), ctx)) }
    } catch (err) {
      reply = { id, ok: false, error: String(err?.stack ?? err) }
    }
    out.write(JSON.stringify(reply) + '\n')
  })
})
rl.on('close', () => chain.then(() => out.end(() => process.exit(0))))
