// Benchmark ops for bench/e2e.py: drive a Baileys socket made by `sock.create` (ops/sock.mjs) and measure it from
// inside Node, so the bridge's own cost stays outside the figures.
//
//   bench.usage          {} -> {cpuUserUs, cpuSystemUs, rss, heapUsed}   process.cpuUsage() and memoryUsage()
//   bench.send           {h, jid, count, inflight?, rate?, prefix?}
//       -> {wallMs, cpuUs, cpuSystemUs, latenciesMs: [...], acked, refused}
//       Sends `count` texts to `jid` with Baileys' own sendMessage, each with an id of ours (sendMessage's
//       `messageId` option), and waits for the server's <ack class="message"> of each (listened for on the
//       socket's websocket emitter, beside Baileys' own handler). A message's latency runs from the sendMessage
//       call to its ack. Without `rate`: pipelined, `inflight` (default 100) messages outstanding at any time.
//       With `rate` (messages per second): one send started every 1000/rate ms whatever the acks do.
//       cpuUs is process.cpuUsage() user+system over the whole run, cpuSystemUs the system (kernel) part.
//   bench.receiveStart   {h} -> null   start counting texts received from others (messages.upsert, not fromMe)
//   bench.receiveWait    {h, count, timeoutMs?} -> {got, cpuUs, cpuSystemUs, wallMs}
//       waits until `count` texts arrived since receiveStart; CPU and wall time since receiveStart.
//
// A socket's events are also recorded by ops/sock.mjs (each upsert converted to JSON), which these figures
// include; that is a few µs a message.
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'

import { withRoot } from '../lib/protoroot.mjs'

function socketState(ctx, h) {
  const state = ctx.get(h)
  if (!state || !state.sock || !state.v) throw new Error(`handle ${h} is not a socket`)
  return state
}

// CPU µs since `since` (a process.cpuUsage() value): {cpuUs: user + system, cpuSystemUs}.
function cpuSince(since) {
  const used = process.cpuUsage(since)
  return { cpuUs: used.user + used.system, cpuSystemUs: used.system }
}

function newId() {
  return '3EB0' + randomBytes(9).toString('hex').toUpperCase()
}

// One listener for the server's message acks of a socket; `wait(id)` resolves with the ack's attrs.
function ackWaiter(sock) {
  const waiting = new Map()
  const early = new Map()
  const onAck = (node) => {
    const id = node.attrs?.id
    const resolve = waiting.get(id)
    if (resolve) {
      waiting.delete(id)
      resolve(node.attrs)
    } else {
      early.set(id, node.attrs)
    }
  }
  sock.ws.on('CB:ack,class:message', onAck)
  return {
    wait(id) {
      if (early.has(id)) {
        const attrs = early.get(id)
        early.delete(id)
        return Promise.resolve(attrs)
      }
      return new Promise((resolve) => waiting.set(id, resolve))
    },
    close() {
      sock.ws.off('CB:ack,class:message', onAck)
    },
  }
}

export const ops = {
  'bench.usage': async () => {
    const cpu = process.cpuUsage()
    const mem = process.memoryUsage()
    return { cpuUserUs: cpu.user, cpuSystemUs: cpu.system, rss: mem.rss, heapUsed: mem.heapUsed }
  },

  'bench.send': async ({ h, jid, count, inflight, rate, prefix }, ctx) => {
    const state = socketState(ctx, h)
    const sock = state.sock
    const acks = ackWaiter(sock)
    const latencies = []
    let acked = 0
    let refused = 0
    const one = async (i) => {
      const id = newId()
      const t0 = performance.now()
      const ack = acks.wait(id)
      await sock.sendMessage(jid, { text: `${prefix ?? 'bench'} ${i}` }, { messageId: id })
      const attrs = await ack
      latencies.push(performance.now() - t0)
      if (attrs.error) refused++
      else acked++
    }
    try {
      return await withRoot('proto', state.v.proto, async () => {
        const cpu0 = process.cpuUsage()
        const start = performance.now()
        if (rate) {
          const pending = []
          for (let i = 0; i < count; i++) {
            const due = start + (i * 1000) / rate
            const wait = due - performance.now()
            if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
            pending.push(one(i))
          }
          await Promise.all(pending)
        } else {
          let next = 0
          const worker = async () => {
            while (next < count) await one(next++)
          }
          await Promise.all(Array.from({ length: Math.min(inflight ?? 100, count) }, worker))
        }
        return { wallMs: performance.now() - start, ...cpuSince(cpu0), latenciesMs: latencies, acked, refused }
      })
    } finally {
      acks.close()
    }
  },

  'bench.receiveStart': async ({ h }, ctx) => {
    const state = socketState(ctx, h)
    state.benchReceive?.stop()
    const counter = { got: 0, cpu0: process.cpuUsage(), start: performance.now(), wake: null }
    const onUpsert = ({ messages }) => {
      for (const m of messages) {
        const msg = m.message
        if (!m.key?.fromMe && msg && (msg.conversation || msg.extendedTextMessage)) counter.got++
      }
      counter.wake?.()
    }
    state.sock.ev.on('messages.upsert', onUpsert)
    counter.stop = () => state.sock.ev.off('messages.upsert', onUpsert)
    state.benchReceive = counter
    return null
  },

  'bench.receiveWait': async ({ h, count, timeoutMs }, ctx) => {
    const state = socketState(ctx, h)
    const counter = state.benchReceive
    if (!counter) throw new Error('bench.receiveStart first')
    const deadline = performance.now() + (timeoutMs ?? 60000)
    while (counter.got < count && performance.now() < deadline) {
      await new Promise((resolve) => {
        counter.wake = resolve
        setTimeout(resolve, 50)
      })
    }
    const result = { got: counter.got, ...cpuSince(counter.cpu0), wallMs: performance.now() - counter.start }
    counter.stop()
    state.benchReceive = null
    return result
  },
}
