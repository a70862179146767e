// Noise and curve ops: drive Baileys' own client noise handler (v6 and v7) and libsignal's XEdDSA.
//
// A client is created with a given ephemeral key pair and kept under a handle; the Python side feeds it
// our responder's bytes and reads back the frames Baileys writes. Nothing here re-implements Noise:
// every byte comes from Baileys' makeNoiseHandler, Baileys' protobuf classes or libsignal.
import { createRequire } from 'node:module'
import { deflateSync } from 'node:zlib'

import { makeNoiseHandler as makeNoise6 } from '@whiskeysockets/baileys/lib/Utils/noise-handler.js'
import { makeNoiseHandler as makeNoise7 } from 'baileys/lib/Utils/noise-handler.js'
import { proto as proto6 } from '@whiskeysockets/baileys/WAProto/index.js'
import { proto as proto7 } from 'baileys/WAProto/index.js'
import { NOISE_WA_HEADER as HEADER6 } from '@whiskeysockets/baileys/lib/Defaults/index.js'
import { NOISE_WA_HEADER as HEADER7 } from 'baileys/lib/Defaults/index.js'
import { encodeBinaryNode as encodeNode6 } from '@whiskeysockets/baileys/lib/WABinary/encode.js'

import { withRoot } from '../lib/protoroot.mjs'

const require = createRequire(import.meta.url)
const curve = require('libsignal/src/curve.js')

const silent = {
  level: 'silent',
  child() { return silent },
  trace() {}, debug() {}, info() {}, warn() {}, error() {},
}

const versions = {
  6: { makeNoise: makeNoise6, proto: proto6, header: HEADER6 },
  7: { makeNoise: makeNoise7, proto: proto7, header: HEADER7 },
}

function pick(version) {
  const v = versions[version]
  if (!v) throw new Error(`unknown Baileys version ${version}`)
  return v
}

// Baileys hands decoded frames to a callback: raw bytes during the handshake, nodes afterwards.
async function feed(client, data) {
  const frames = []
  await client.noise.decodeFrame(Buffer.from(data), (frame) => frames.push(frame))
  return frames
}

export const ops = {
  // --- libsignal curve (XEdDSA, libsignal-node 6.0.0 convention)
  'curve.sign': async ({ items }) =>
    items.map(({ private: priv, message }) => curve.calculateSignature(Buffer.from(priv), Buffer.from(message))),
  'curve.verify': async ({ items }) =>
    items.map(({ public: pub, message, signature }) =>
      curve.verifySignature(Buffer.concat([Buffer.from([5]), Buffer.from(pub)]), Buffer.from(message), Buffer.from(signature))),

  // --- Baileys' client noise handler, driven step by step
  'noise.client.create': async ({ version, ephemeral }, ctx) => {
    const v = pick(version)
    const keyPair = { private: Buffer.from(ephemeral.private), public: Buffer.from(ephemeral.public) }
    const noise = v.makeNoise({ keyPair, NOISE_HEADER: v.header, logger: silent })
    return ctx.put({ version, v, noise, keyPair })
  },
  // The first websocket message: intro header + framed HandshakeMessage{clientHello{ephemeral}}.
  'noise.client.hello': async ({ handle }, ctx) => {
    const c = ctx.get(handle)
    return withRoot('proto', c.v.proto, () => {
      const hello = c.v.proto.HandshakeMessage.encode({ clientHello: { ephemeral: c.keyPair.public } }).finish()
      return c.noise.encodeFrame(hello)
    })
  },
  // Feed websocket bytes; returns the frames Baileys decoded (bytes during the handshake, nodes after).
  'noise.client.receive': async ({ handle, data }, ctx) => {
    const c = ctx.get(handle)
    return withRoot('proto', c.v.proto, () => feed(c, data))
  },
  // Process a ServerHello (the HandshakeMessage bytes of one frame) and answer with the framed ClientFinish.
  'noise.client.finish': async ({ handle, serverHello, noiseKey, payload }, ctx) => {
    const c = ctx.get(handle)
    return withRoot('proto', c.v.proto, async () => {
      const handshake = c.v.proto.HandshakeMessage.decode(Buffer.from(serverHello))
      const key = { private: Buffer.from(noiseKey.private), public: Buffer.from(noiseKey.public) }
      const keyEnc = await c.noise.processHandshake(handshake, key)
      const payloadEnc = c.noise.encrypt(Buffer.from(payload))
      const finish = c.v.proto.HandshakeMessage.encode({ clientFinish: { static: keyEnc, payload: payloadEnc } }).finish()
      const frame = c.noise.encodeFrame(finish)
      await c.noise.finishInit()
      return frame
    })
  },
  // Frame (and, after the handshake, encrypt) arbitrary plaintext bytes.
  'noise.client.send': async ({ handle, data }, ctx) => ctx.get(handle).noise.encodeFrame(Buffer.from(data)),
  'noise.client.drop': async ({ handle }, ctx) => { ctx.drop(handle); return null },

  // --- helpers for frame plaintexts built by Baileys itself
  // Baileys 6's node encoder: flag byte 00 + node bytes. With compress: flag 02 + zlib(node bytes).
  'noise.node.encode': async ({ node, compress }) => {
    const plain = encodeNode6(node)
    if (!compress) return plain
    return Buffer.concat([Buffer.from([2]), deflateSync(plain.subarray(1))])
  },
}
