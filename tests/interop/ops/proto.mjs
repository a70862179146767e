// Protobuf ops: Baileys' own generated protobufjs classes (WAProto, v6 and v7) and libsignal's
// (WhisperTextProtocol), so that waproto/proto/*.proto is checked against classes we did not write.
//
//   proto.types      {lib}                 -> ["ADVDeviceIdentity", "CertChain.NoiseCertificate", ...]
//   proto.roundtrip  {lib, type, data}     -> {object, data}   X.decode(data), then X.toObject and X.encode
//   proto.build      {lib, type, object}   -> {data}           X.encode(X.fromObject(object))
//
// `lib` is "v6" (@whiskeysockets/baileys), "v7" (baileys) or "libsignal"; `type` is a dotted path under
// that library's namespace (`proto.` for WAProto, `textsecure.` for libsignal). Objects use protobufjs'
// toObject form with {longs: String, enums: Number, bytes: String}: 64-bit integers as decimal strings,
// enums as numbers, bytes as base64 — the same shape as protobuf's MessageToDict(use_integers_for_enums=True).
//
// Both WAProto builds register themselves as `protobuf.roots.default.proto` in the one shared protobufjs
// instance, and their generated code finds nested types through that global. Whichever build was imported
// last would therefore decode the nested messages of the other. Every op here points the global at the
// build it is about to use, and puts back what was there when it is done, so that other ops see no change
// (the harness runs ops one at a time, and these calls are synchronous).
import { createRequire } from 'node:module'
import $protobuf from 'protobufjs/minimal.js'

import { withRootSync } from '../lib/protoroot.mjs'

const require = createRequire(import.meta.url)

const libs = {
  v6: (await import('@whiskeysockets/baileys/WAProto/index.js')).proto,
  v7: (await import('baileys/WAProto/index.js')).proto,
  libsignal: require('libsignal/src/WhisperTextProtocol.js').textsecure,
}
const rootName = { v6: 'proto', v7: 'proto', libsignal: 'textsecure' }

const OBJECT_OPTIONS = { longs: String, enums: Number, bytes: String }

// Run fn(namespace) with protobufjs' global root pointing at `lib`'s classes, then restore it.
function withLib(lib, fn) {
  const ns = libs[lib]
  if (!ns) throw new Error(`unknown lib ${JSON.stringify(lib)}`)
  return withRootSync(rootName[lib], ns, fn)
}

function isMessageClass(value) {
  return typeof value === 'function' && typeof value.decode === 'function' && typeof value.encode === 'function'
}

function resolve(ns, lib, type) {
  let node = ns
  for (const part of type.split('.')) {
    if (node == null || !Object.prototype.hasOwnProperty.call(node, part)) {
      throw new Error(`${lib} has no message type ${type}`)
    }
    node = node[part]
  }
  if (!isMessageClass(node)) throw new Error(`${lib} ${type} is not a message type`)
  return node
}

function listTypes(ns, prefix, out) {
  for (const [name, value] of Object.entries(ns)) {
    if (!/^[A-Z]/.test(name) || !isMessageClass(value)) continue
    const path = prefix ? `${prefix}.${name}` : name
    out.push(path)
    listTypes(value, path, out)
  }
  return out
}

export const ops = {
  'proto.types': async ({ lib }) => withLib(lib, (ns) => listTypes(ns, '', []).sort()),

  'proto.roundtrip': async ({ lib, type, data }) => withLib(lib, (ns) => {
    const cls = resolve(ns, lib, type)
    const decoded = cls.decode(data)
    return {
      object: cls.toObject(decoded, OBJECT_OPTIONS),
      data: cls.encode(decoded).finish(),
    }
  }),

  'proto.build': async ({ lib, type, object }) => withLib(lib, (ns) => {
    const cls = resolve(ns, lib, type)
    return { data: cls.encode(cls.fromObject(object)).finish() }
  }),

  // Which build protobufjs' global root holds right now (for the test that ops leave it alone).
  'proto.root': async () => {
    const current = $protobuf.roots.default.proto
    return Object.entries(libs).find(([, ns]) => ns === current)?.[0] ?? null
  },
}
