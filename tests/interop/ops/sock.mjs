// Socket ops: REAL Baileys sockets (v6 `@whiskeysockets/baileys`, v7 `baileys`) pointed at a server of ours (the
// waproto sandbox), with in-memory auth state. Nothing is stubbed: Baileys opens its own websocket, runs Noise,
// shows QRs, links, restarts after 515 and logs in exactly as it would against WhatsApp.
//
//   sock.create          {version: 'v6'|'v7', url, reconnect?: true, browser?, caFile?, sameCredsAs?} -> handle
//       Fresh credentials (initAuthCreds) and a memory key store kept under the handle. When the socket closes
//       with a status other than loggedOut (401), forbidden (403), connectionReplaced (440) or
//       multideviceMismatch (411), a new socket is made with the same credentials (what Baileys' own example
//       does; the 515 restart after pairing needs it), unless `reconnect` is false or `sock.end` was called.
//       `caFile`: a CA certificate (PEM file) Baileys trusts for media uploads (its `fetchAgent` option).
//       `sameCredsAs`: another socket handle whose credentials and key store this one shares (the same device
//       connecting twice).
//   sock.events          {h, since?: 0} -> [{n, type, ...}]  every event recorded from index `since` on:
//       {type: 'connection.update', connection?, qr?, isNewLogin?, receivedPendingNotifications?, statusCode?}
//       {type: 'creds.update', me?, registered?}
//       {type: 'messages.upsert', upsertType, messages: [{key, message, pushName}]}
//       {type: 'socket', event: 'created', count}   (one per socket the handle has made)
//   sock.creds           {h} -> {me, registered, pairingCode}
//   sock.requestPairingCode {h, phone, code?} -> the code Baileys shows
//   sock.sendMessage     {h, jid, content} -> {key}
//   sock.setReconnect    {h, on} -> null   turn the automatic reconnect on or off
//   sock.reconnect       {h} -> null   a new socket with the same credentials now (after a close)
//   sock.end             {h} -> null   (closes the current socket; no reconnect; the handle is dropped)
//
// Baileys 6 and 7 share one protobufjs root (see ../lib/protoroot.mjs). Calls into a socket run under `withRoot`;
// but a socket also decodes protobufs in its own websocket handlers, between harness calls, so making a socket
// points the shared root at its version's WAProto and leaves it there. Use one Baileys version at a time (the
// Python tests do); the other ops restore whatever root they found.
import * as baileys6 from '@whiskeysockets/baileys'
import * as baileys7 from 'baileys'
import { proto as proto6 } from '@whiskeysockets/baileys/WAProto/index.js'
import { proto as proto7 } from 'baileys/WAProto/index.js'
import { readFileSync } from 'node:fs'
import https from 'node:https'

import $protobuf from 'protobufjs/minimal.js'

import { withRoot } from '../lib/protoroot.mjs'

const versions = {
  v6: { lib: baileys6, proto: proto6 },
  v7: { lib: baileys7, proto: proto7 },
}

// A logger that drops everything (the shape Baileys uses: pino's level, child and level methods).
const silent = {
  level: 'silent',
  child() { return silent },
  trace() {}, debug() {}, info() {}, warn() {}, error() {}, fatal() {},
}

function memoryKeys() {
  const data = {}
  return {
    get: async (type, ids) => {
      const bucket = data[type] ?? {}
      const out = {}
      for (const id of ids) if (bucket[id] !== undefined) out[id] = bucket[id]
      return out
    },
    set: async (changes) => {
      for (const [type, values] of Object.entries(changes)) {
        data[type] ??= {}
        for (const [id, value] of Object.entries(values)) {
          if (value === null || value === undefined) delete data[type][id]
          else data[type][id] = value
        }
      }
    },
  }
}

const NO_RECONNECT = new Set([401, 403, 411, 440])

function plain(value) {
  if (value === null || value === undefined) return value
  if (typeof value.toJSON === 'function') return value.toJSON()
  return value
}

function makeSocket(state) {
  const { v } = state
  $protoRoot(v)
  const sock = v.lib.makeWASocket({
    auth: { creds: state.creds, keys: state.keys },
    logger: silent,
    browser: state.browser,
    waWebSocketUrl: state.url,
    connectTimeoutMs: 15000,
    defaultQueryTimeoutMs: 15000,
    markOnlineOnConnect: false,
    syncFullHistory: false,
    shouldSyncHistoryMessage: () => false,
    getMessage: async () => undefined,
    ...(state.caFile ? { fetchAgent: new https.Agent({ ca: readFileSync(state.caFile) }) } : {}),
  })
  state.sock = sock
  state.sockets += 1
  state.events.push({ type: 'socket', event: 'created', count: state.sockets })
  const record = (event) => state.events.push(event)
  sock.ev.on('connection.update', (update) => {
    const event = { type: 'connection.update' }
    for (const key of ['connection', 'qr', 'isNewLogin', 'receivedPendingNotifications']) {
      if (update[key] !== undefined) event[key] = update[key]
    }
    const status = update.lastDisconnect?.error?.output?.statusCode
    if (status !== undefined) event.statusCode = status
    if (update.lastDisconnect?.error) event.error = String(update.lastDisconnect.error.message ?? update.lastDisconnect.error)
    record(event)
    if (update.connection === 'close' && sock === state.sock && !state.ended && state.reconnect) {
      if (!NO_RECONNECT.has(status) && state.sockets < 20) {
        setTimeout(() => {
          if (!state.ended && sock === state.sock) {
            makeSocket(state)
          }
        }, 100)
      }
    }
  })
  sock.ev.on('creds.update', (update) => {
    const event = { type: 'creds.update' }
    if (update.me !== undefined) event.me = update.me
    if (update.registered !== undefined) event.registered = update.registered
    record(event)
  })
  sock.ev.on('messages.upsert', ({ messages, type }) => {
    record({
      type: 'messages.upsert',
      upsertType: type,
      messages: messages.map((m) => ({ key: m.key, message: plain(m.message), pushName: m.pushName ?? null })),
    })
  })
  return sock
}

// Baileys' socket handlers decode protobufs on websocket events, outside any op: leave the shared root pointing
// at the version of the socket made last.
function $protoRoot(v) {
  $protobuf.roots.default.proto = v.proto
}

function socketState(ctx, h) {
  const state = ctx.get(h)
  if (!state || !state.events) throw new Error(`handle ${h} is not a socket`)
  return state
}

export const ops = {
  'sock.create': async ({ version, url, reconnect, browser, caFile, sameCredsAs }, ctx) => {
    const v = versions[version]
    if (!v) throw new Error(`unknown Baileys version ${version}`)
    const twin = sameCredsAs ? socketState(ctx, sameCredsAs) : null
    const state = {
      v,
      url,
      reconnect: reconnect ?? true,
      browser: browser ?? ['Ubuntu', 'Chrome', '22.04.4'],
      caFile: caFile ?? null,
      creds: twin ? twin.creds : v.lib.initAuthCreds(),
      keys: twin ? twin.keys : memoryKeys(),
      events: [],
      sockets: 0,
      ended: false,
      sock: null,
    }
    $protoRoot(v)
    makeSocket(state)
    return ctx.put(state)
  },
  'sock.events': async ({ h, since }, ctx) => socketState(ctx, h).events.slice(since ?? 0).map((e, i) => ({ n: (since ?? 0) + i, ...e })),
  'sock.creds': async ({ h }, ctx) => {
    const { creds } = socketState(ctx, h)
    return { me: creds.me ?? null, registered: !!creds.registered, pairingCode: creds.pairingCode ?? null }
  },
  'sock.requestPairingCode': async ({ h, phone, code }, ctx) => {
    const state = socketState(ctx, h)
    return withRoot('proto', state.v.proto, () => state.sock.requestPairingCode(phone, code))
  },
  'sock.sendMessage': async ({ h, jid, content }, ctx) => {
    const state = socketState(ctx, h)
    const sent = await withRoot('proto', state.v.proto, () => state.sock.sendMessage(jid, content))
    return { key: sent?.key ?? null }
  },
  'sock.setReconnect': async ({ h, on }, ctx) => {
    socketState(ctx, h).reconnect = !!on
    return null
  },
  'sock.reconnect': async ({ h }, ctx) => {
    const state = socketState(ctx, h)
    makeSocket(state)
    return null
  },
  'sock.end': async ({ h }, ctx) => {
    const state = socketState(ctx, h)
    state.ended = true
    ctx.drop(h)
    try {
      await state.sock?.end(undefined)
    } catch {}
    return null
  },
}
