// Pairing ops: Baileys' companion-side linking code (v6 and v7), so that waproto/pairing is checked against
// code we did not write.
//
//   pairing.<v>.qr.socket   {ref, noise, identity, adv, browser?} -> qr string
//       A real makeWASocket whose websocket is swapped for an always-open stub before anything is sent;
//       the op emits a <pair-device><ref/></pair-device> stanza at it and returns the QR its own handler
//       emits (Baileys 6 joins the four parts inline in socket.js; Baileys 7 calls buildPairingQRData).
//   pairing.v7.qr.build     {ref, noise, identity, adv, browser} -> buildPairingQRData(...)
//   pairing.<v>.socket.*    a stubbed makeWASocket kept under a handle, to run Baileys' real pairing-code
//       companion end to end: open {noise, identity, adv, pairingEphemeral, browser?} -> h;
//       requestCode {h, phone, code?} -> {code, frames} (requestPairingCode and its companion_hello iq);
//       deliver {h, frame, until?} -> frames (a node from "the server", handled as the socket would);
//       creds {h} -> {qrs, advSecret, pairingCode, me, registered, account} (qrs: every QR it emitted); close {h}.
//       Frames are what encodeBinaryNode wrote (flag byte first): before a Noise handshake they go out in clear.
//   pairing.<v>.configure   {frame, adv, identity} -> {ok, replyFrame?, account?, me?, platform?, error?}
//       decodeBinaryNode(frame) -> configureSuccessfulPairing -> encodeBinaryNode(reply); `account` is the
//       stored ADVSignedDeviceIdentity, account key included.
//   pairing.<v>.crockford   {bytes} -> bytesToCrockford
//   pairing.<v>.codeKey     {code, salt} -> derivePairingCodeKey
//   pairing.<v>.wrap        {code, public, salt, iv} -> salt || iv || aesEncryptCTR(public, codeKey, iv)
//       (socket.js generatePairingKey, with salt and iv given instead of drawn)
//   pairing.<v>.unwrap      {code, wrapped} -> messages-recv.js decipherLinkPublicKey
//   pairing.<v>.companionFinish {code, ephemeral, identity, wrappedPrimary, primaryIdentity, random, salt, iv}
//       -> {wrappedKeyBundle, advSecret}: the link_code_companion_reg notification handler's steps, with its
//       three randomBytes calls given.
//   pairing.<v>.openBundle  {ephemeral, identity, companionEphemeral, companionIdentity, bundle}
//       -> {plain, advSecret}: the phone's side (Baileys has none) made of Baileys' own primitives
//       (Curve.sharedKey, hkdf, aesDecryptGCM).
// Keys cross as {private, public}, raw 32 bytes each.
// The packages' entry points (not lib/Socket directly: Baileys' modules import each other in a cycle
// that only the entry point's order resolves).
import * as baileys6 from '@whiskeysockets/baileys'
import * as baileys7 from 'baileys'
import * as bin6 from '@whiskeysockets/baileys/lib/WABinary/index.js'
import * as bin7 from 'baileys/lib/WABinary/index.js'
import { proto as proto6 } from '@whiskeysockets/baileys/WAProto/index.js'
import { proto as proto7 } from 'baileys/WAProto/index.js'
import { NOISE_WA_HEADER as HEADER6 } from '@whiskeysockets/baileys/lib/Defaults/index.js'
import { NOISE_WA_HEADER as HEADER7 } from 'baileys/lib/Defaults/index.js'

import { withRoot } from '../lib/protoroot.mjs'

const versions = {
  v6: { makeSocket: baileys6.makeWASocket, utils: baileys6, bin: bin6, proto: proto6, header: HEADER6 },
  v7: { makeSocket: baileys7.makeWASocket, utils: baileys7, bin: bin7, proto: proto7, header: HEADER7 },
}

// A logger that drops everything (the shape Baileys uses: pino's level, child and level methods).
const silent = {
  level: 'silent',
  child() { return silent },
  trace() {}, debug() {}, info() {}, warn() {}, error() {}, fatal() {},
}

const pair = (kp) => ({ private: Buffer.from(kp.private), public: Buffer.from(kp.public) })

// A makeWASocket whose websocket is swapped for an always-open stand-in before anything is sent. The stand-in
// records each frame Baileys writes, minus the intro header and the 3-byte length: before a Noise handshake
// the noise handler writes nodes in clear, so each record is exactly encodeBinaryNode's output.
async function stubbedSocket(v, { noise, identity, adv, pairingEphemeral, browser }) {
  const creds = {
    ...v.utils.initAuthCreds(),
    noiseKey: pair(noise),
    signedIdentityKey: pair(identity),
    advSecretKey: Buffer.from(adv).toString('base64'),
  }
  if (pairingEphemeral) creds.pairingEphemeralKeyPair = pair(pairingEphemeral)
  const keys = { get: async () => ({}), set: async () => {} }
  const sock = v.makeSocket({
    auth: { creds, keys },
    logger: silent,
    browser: browser ?? ['Ubuntu', 'Chrome', '22.04.4'],
    waWebSocketUrl: 'ws://127.0.0.1:9/ws',
    connectTimeoutMs: 5000,
  })
  const real = sock.ws.socket
  real.removeAllListeners()
  real.on('error', () => {})
  real.terminate()
  const frames = []
  const qrs = []
  sock.ev.on('connection.update', (update) => { if (update.qr) qrs.push(update.qr) })
  let intro = true
  sock.ws.socket = {
    readyState: 1,
    send(data, cb) {
      let frame = Buffer.from(data)
      if (intro) {
        frame = frame.subarray(v.header.length)
        intro = false
      }
      frames.push(frame.subarray(3))
      cb?.()
    },
    close() {},
  }
  return { v, sock, creds, frames, qrs }
}

// What socket.js's onMessageReceived does with a decoded node (the frame decoding itself sits behind the
// Noise transport, which these sockets never complete): emit TAG:<id>, then the CB:<tag>,... keys.
function dispatch(ws, node) {
  ws.emit('frame', node)
  ws.emit(`TAG:${node.attrs.id}`, node)
  const l2 = Array.isArray(node.content) ? node.content[0]?.tag : ''
  for (const [key, value] of Object.entries(node.attrs)) {
    ws.emit(`CB:${node.tag},${key}:${value},${l2}`, node)
    ws.emit(`CB:${node.tag},${key}:${value}`, node)
    ws.emit(`CB:${node.tag},${key}`, node)
  }
  ws.emit(`CB:${node.tag},,${l2}`, node)
  ws.emit(`CB:${node.tag}`, node)
}

// The frames Baileys wrote after the first `count`, once one of them is a <tag type=...> node (any frame when
// `until` is absent); each is decoded with Baileys' own decoder to decide.
async function framesAfter(s, count, until, ms = 10000) {
  const deadline = Date.now() + ms
  for (;;) {
    const fresh = s.frames.slice(count)
    for (const frame of fresh) {
      if (!until) return fresh
      const node = await s.v.bin.decodeBinaryNode(frame)
      if (node.tag === until.tag && (until.type === undefined || node.attrs.type === until.type)) return fresh
    }
    if (Date.now() > deadline) throw new Error(`no ${JSON.stringify(until ?? 'frame')} from Baileys in ${ms} ms (${fresh.length} other frames)`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

async function qrFromSocket(v, args) {
  const s = await stubbedSocket(v, args)
  const qr = new Promise((resolve) => {
    s.sock.ev.on('connection.update', (update) => { if (update.qr) resolve(update.qr) })
  })
  const stanza = {
    tag: 'iq',
    attrs: { from: 's.whatsapp.net', type: 'set', id: 'pair-1', xmlns: 'md' },
    content: [{ tag: 'pair-device', attrs: {}, content: [{ tag: 'ref', attrs: {}, content: Buffer.from(args.ref) }] }],
  }
  dispatch(s.sock.ws, stanza)
  const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error('no QR within 5 s')), 5000).unref())
  try {
    return await Promise.race([qr, timeout])
  } finally {
    await s.sock.end(undefined)
  }
}

function versionOps(name) {
  const v = versions[name]
  const codeKey = (code, salt) => v.utils.derivePairingCodeKey(code, Buffer.from(salt))
  return {
    [`pairing.${name}.qr.socket`]: (args) => withRoot('proto', v.proto, () => qrFromSocket(v, args)),
    // A stubbed socket kept under a handle: open, requestPairingCode, deliver nodes, read creds, close.
    [`pairing.${name}.socket.open`]: async (args, ctx) => ctx.put(await stubbedSocket(v, args)),
    [`pairing.${name}.socket.requestCode`]: async ({ h, phone, code }, ctx) => {
      const s = ctx.get(h)
      const count = s.frames.length
      const shown = await withRoot('proto', v.proto, () => s.sock.requestPairingCode(phone, code))
      return { code: shown, frames: await framesAfter(s, count, { tag: 'iq', type: 'set' }) }
    },
    // {h, frame, until?: {tag, type?}}: Baileys decodes the frame and handles the node as its socket would;
    // the op returns every frame it has written in response once one is a <tag type> node.
    [`pairing.${name}.socket.deliver`]: async ({ h, frame, until }, ctx) => {
      const s = ctx.get(h)
      const count = s.frames.length
      return withRoot('proto', v.proto, async () => {
        dispatch(s.sock.ws, await v.bin.decodeBinaryNode(Buffer.from(frame)))
        return framesAfter(s, count, until)
      })
    },
    [`pairing.${name}.socket.creds`]: async ({ h }, ctx) => {
      const { creds, qrs } = ctx.get(h)
      return {
        qrs,
        advSecret: Buffer.from(creds.advSecretKey, 'base64'),
        pairingCode: creds.pairingCode ?? null,
        me: creds.me ?? null,
        registered: !!creds.registered,
        account: creds.account ? v.utils.encodeSignedDeviceIdentity(creds.account, true) : null,
      }
    },
    [`pairing.${name}.socket.close`]: async ({ h }, ctx) => {
      const s = ctx.get(h)
      ctx.drop(h)
      await s.sock.end(undefined)
      return null
    },
    [`pairing.${name}.configure`]: ({ frame, adv, identity }) =>
      withRoot('proto', v.proto, async () => {
        const stanza = await v.bin.decodeBinaryNode(Buffer.from(frame))
        try {
          const { creds, reply } = v.utils.configureSuccessfulPairing(stanza, {
            advSecretKey: Buffer.from(adv).toString('base64'),
            signedIdentityKey: pair(identity),
            signalIdentities: [],
          })
          return {
            ok: true,
            replyFrame: v.bin.encodeBinaryNode(reply),
            account: v.utils.encodeSignedDeviceIdentity(creds.account, true),
            me: creds.me,
            platform: creds.platform ?? null,
            primaryIdentity: creds.signalIdentities[0].identifierKey,
          }
        } catch (err) {
          return { ok: false, error: String(err?.message ?? err) }
        }
      }),
    [`pairing.${name}.crockford`]: async ({ bytes }) => v.utils.bytesToCrockford(Buffer.from(bytes)),
    [`pairing.${name}.codeKey`]: ({ code, salt }) => codeKey(code, salt),
    [`pairing.${name}.wrap`]: async ({ code, public: pub, salt, iv }) => {
      const key = await codeKey(code, salt)
      return Buffer.concat([Buffer.from(salt), Buffer.from(iv), v.utils.aesEncryptCTR(Buffer.from(pub), key, Buffer.from(iv))])
    },
    [`pairing.${name}.unwrap`]: async ({ code, wrapped }) => {
      const w = Buffer.from(wrapped)
      const key = await codeKey(code, w.slice(0, 32))
      return v.utils.aesDecryptCTR(w.slice(48, 80), key, w.slice(32, 48))
    },
    [`pairing.${name}.companionFinish`]: async ({ code, ephemeral, identity, wrappedPrimary, primaryIdentity, random, salt, iv }) => {
      const w = Buffer.from(wrappedPrimary)
      const primaryEphemeral = v.utils.aesDecryptCTR(w.slice(48, 80), await codeKey(code, w.slice(0, 32)), w.slice(32, 48))
      const shared = v.utils.Curve.sharedKey(Buffer.from(ephemeral.private), primaryEphemeral)
      const bundleKey = Buffer.from(await v.utils.hkdf(shared, 32, { salt: Buffer.from(salt), info: 'link_code_pairing_key_bundle_encryption_key' }))
      const payload = Buffer.concat([Buffer.from(identity.public), Buffer.from(primaryIdentity), Buffer.from(random)])
      const sealed = v.utils.aesEncryptGCM(payload, bundleKey, Buffer.from(iv), Buffer.alloc(0))
      const identityShared = v.utils.Curve.sharedKey(Buffer.from(identity.private), Buffer.from(primaryIdentity))
      const advSecret = Buffer.from(await v.utils.hkdf(Buffer.concat([shared, identityShared, Buffer.from(random)]), 32, { info: 'adv_secret' }))
      return { wrappedKeyBundle: Buffer.concat([Buffer.from(salt), Buffer.from(iv), sealed]), advSecret }
    },
    [`pairing.${name}.openBundle`]: async ({ ephemeral, identity, companionEphemeral, companionIdentity, bundle }) => {
      const b = Buffer.from(bundle)
      const shared = v.utils.Curve.sharedKey(Buffer.from(ephemeral.private), Buffer.from(companionEphemeral))
      const bundleKey = Buffer.from(await v.utils.hkdf(shared, 32, { salt: b.slice(0, 32), info: 'link_code_pairing_key_bundle_encryption_key' }))
      const plain = v.utils.aesDecryptGCM(b.slice(44), bundleKey, b.slice(32, 44), Buffer.alloc(0))
      const identityShared = v.utils.Curve.sharedKey(Buffer.from(identity.private), Buffer.from(companionIdentity))
      const advSecret = Buffer.from(await v.utils.hkdf(Buffer.concat([shared, identityShared, plain.slice(64)]), 32, { info: 'adv_secret' }))
      return { plain, advSecret }
    },
  }
}

export const ops = {
  ...versionOps('v6'),
  ...versionOps('v7'),
  'pairing.v7.qr.build': async ({ ref, noise, identity, adv, browser }) =>
    baileys7.buildPairingQRData(
      ref,
      Buffer.from(noise).toString('base64'),
      Buffer.from(identity).toString('base64'),
      Buffer.from(adv).toString('base64'),
      browser,
    ),
}
