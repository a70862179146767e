// Signal 1:1 ops: a libsignal-node 6.0.0 party (identity, prekeys, sessions) driven from Python.
//
// A party is kept under a handle. Its storage behaves like Baileys' (lib/Signal/libsignal.js): every
// session record is serialised on store and deserialised on load (so a failed decrypt cannot leave a
// half-changed record behind), identities are always trusted, prekey pairs come back with 32-byte
// public keys. Nothing here re-implements Signal: every byte comes from libsignal's SessionBuilder and
// SessionCipher. Group (sender key) ops live in group.mjs.
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const libsignal = require('libsignal')
const curve = require('libsignal/src/curve.js')

// serialise=false keeps record objects as they are (faster; only for the bench, where nothing fails).
function makeParty({ registrationId, preKeys = 10, signedPreKeyId = 1, serialise = true }) {
  const identity = curve.generateKeyPair()
  const party = {
    identity,
    registrationId: registrationId ?? libsignal.keyhelper.generateRegistrationId(),
    signedPreKey: libsignal.keyhelper.generateSignedPreKey(identity, signedPreKeyId),
    preKeys: new Map(),
    sessions: new Map(),
  }
  for (let id = 1; id <= preKeys; id++) party.preKeys.set(id, curve.generateKeyPair())
  party.storage = {
    loadSession: async (id) => {
      const stored = party.sessions.get(id)
      if (!stored || !serialise) return stored
      return libsignal.SessionRecord.deserialize(JSON.parse(stored))
    },
    storeSession: async (id, record) => {
      party.sessions.set(id, serialise ? JSON.stringify(record.serialize()) : record)
    },
    isTrustedIdentity: () => true,
    loadPreKey: async (id) => {
      const pair = party.preKeys.get(Number(id))
      return pair ? { privKey: pair.privKey, pubKey: pair.pubKey.subarray(1) } : undefined
    },
    removePreKey: async (id) => { party.preKeys.delete(Number(id)) },
    loadSignedPreKey: async (id) => {
      const spk = party.signedPreKey
      if (Number(id) !== spk.keyId) return undefined
      return { privKey: spk.keyPair.privKey, pubKey: spk.keyPair.pubKey.subarray(1) }
    },
    getOurRegistrationId: () => party.registrationId,
    getOurIdentity: () => ({ privKey: identity.privKey, pubKey: identity.pubKey }),
  }
  return party
}

const address = ({ name, deviceId = 0 }) => new libsignal.ProtocolAddress(name, deviceId)

async function decryptOne(party, addr, type, body) {
  const cipher = new libsignal.SessionCipher(party.storage, address(addr))
  try {
    const plaintext = type === 'pkmsg'
      ? await cipher.decryptPreKeyWhisperMessage(Buffer.from(body))
      : await cipher.decryptWhisperMessage(Buffer.from(body))
    return { plaintext }
  } catch (e) {
    return { error: e.name || 'Error', message: String(e.message) }
  }
}

// libsignal prints every failed attempt with console.error; keep the harness log short.
async function quietly(fn) {
  const saved = [console.error, console.warn]
  console.error = () => {}
  console.warn = () => {}
  try { return await fn() } finally { [console.error, console.warn] = saved }
}

// Operations per second of wall time and per CPU second (user + system), run for `seconds` of wall time.
function rate(seconds, step) {
  const deadline = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9))
  return (async () => {
    let n = 0
    const cpu = process.cpuUsage()
    const start = process.hrtime.bigint()
    while (process.hrtime.bigint() < deadline) { await step(n); n++ }
    const wall = Number(process.hrtime.bigint() - start) / 1e9
    const used = process.cpuUsage(cpu)
    return { wall: n / wall, cpu: n / ((used.user + used.system) / 1e6) }
  })()
}

async function pairedParties() {
  const a = makeParty({ serialise: false })
  const b = makeParty({ serialise: false })
  const bAddr = address({ name: 'b' })
  const aAddr = address({ name: 'a' })
  await new libsignal.SessionBuilder(a.storage, bAddr).initOutgoing(bundleOf(b, true))
  const ab = new libsignal.SessionCipher(a.storage, bAddr)
  const ba = new libsignal.SessionCipher(b.storage, aAddr)
  const first = await ab.encrypt(Buffer.from('hello'))
  await ba.decryptPreKeyWhisperMessage(first.body)
  return { ab, ba }
}

function bundleOf(party, withPreKey) {
  const bundle = {
    registrationId: party.registrationId,
    identityKey: party.identity.pubKey,
    signedPreKey: {
      keyId: party.signedPreKey.keyId,
      publicKey: party.signedPreKey.keyPair.pubKey,
      signature: party.signedPreKey.signature,
    },
  }
  if (withPreKey) {
    const [keyId, pair] = party.preKeys.entries().next().value
    bundle.preKey = { keyId, publicKey: pair.pubKey }
  }
  return bundle
}

export const ops = {
  // A new libsignal party; returns its handle.
  'signal.party.create': async ({ registrationId, preKeys, signedPreKeyId }, ctx) =>
    ctx.put(makeParty({ registrationId, preKeys, signedPreKeyId })),
  // The party's prekey bundle (33-byte keys, as Baileys builds it from an <iq xmlns="encrypt"> answer).
  'signal.party.bundle': async ({ handle, withPreKey = true }, ctx) => bundleOf(ctx.get(handle), withPreKey),
  'signal.party.preKeyIds': async ({ handle }, ctx) => [...ctx.get(handle).preKeys.keys()],
  // Build an outgoing session from a bundle { registrationId, identityKey, signedPreKey{keyId,publicKey,signature}, preKey? }.
  'signal.party.processBundle': async ({ handle, address: addr, bundle }, ctx) => {
    const device = {
      registrationId: bundle.registrationId,
      identityKey: Buffer.from(bundle.identityKey),
      signedPreKey: {
        keyId: bundle.signedPreKey.keyId,
        publicKey: Buffer.from(bundle.signedPreKey.publicKey),
        signature: Buffer.from(bundle.signedPreKey.signature),
      },
    }
    if (bundle.preKey) device.preKey = { keyId: bundle.preKey.keyId, publicKey: Buffer.from(bundle.preKey.publicKey) }
    await new libsignal.SessionBuilder(ctx.get(handle).storage, address(addr)).initOutgoing(device)
    return true
  },
  // Encrypt each plaintext in order: [{ type: 'pkmsg'|'msg', body }].
  'signal.party.encrypt': async ({ handle, address: addr, plaintexts }, ctx) => {
    const cipher = new libsignal.SessionCipher(ctx.get(handle).storage, address(addr))
    const out = []
    for (const p of plaintexts) {
      const { type, body } = await cipher.encrypt(Buffer.from(p))
      out.push({ type: type === 3 ? 'pkmsg' : 'msg', body })
    }
    return out
  },
  // Decrypt each message in order: [{ plaintext } | { error, message }] (a failure does not stop the rest).
  'signal.party.decrypt': async ({ handle, address: addr, messages }, ctx) =>
    quietly(async () => {
      const out = []
      for (const { type, body } of messages) out.push(await decryptOne(ctx.get(handle), addr, type, body))
      return out
    }),
  'signal.party.drop': async ({ handle }, ctx) => { ctx.drop(handle); return true },

  // Round trips per second ({ wall, cpu }) between two libsignal parties in this process, and XEdDSA rates.
  'signal.bench': async ({ seconds = 1, size = 64 }) => {
    const plaintext = Buffer.alloc(size, 7)
    let { ab, ba } = await pairedParties()
    const pingPong = await rate(seconds, async (n) => {
      const [from, to] = n % 2 ? [ba, ab] : [ab, ba]
      const m = await from.encrypt(plaintext)
      await (m.type === 3 ? to.decryptPreKeyWhisperMessage(m.body) : to.decryptWhisperMessage(m.body))
    })
    ;({ ab, ba } = await pairedParties())
    const reply = await ba.encrypt(plaintext)
    await ab.decryptWhisperMessage(reply.body)
    const chain = await rate(seconds, async () => {
      const m = await ab.encrypt(plaintext)
      await ba.decryptWhisperMessage(m.body)
    })
    const key = curve.generateKeyPair()
    const message = Buffer.alloc(33, 5)
    const sig = curve.calculateSignature(key.privKey, message)
    const sign = await rate(seconds, async () => curve.calculateSignature(key.privKey, message))
    const verify = await rate(seconds, async () => curve.verifySignature(key.pubKey, message, sig))
    return { pingPong, chain, sign, verify }
  },
}
