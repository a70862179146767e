// Baileys' own receive path over stanzas the sandbox delivers, for the simulated phones' tests.
//
// A "companion" here is what a linked Baileys device holds for Signal: auth creds (initAuthCreds), an
// in-memory key store and Baileys' makeLibSignalRepository. 'phone.companion.receive' decodes a frame
// (our marshalled <message>) with Baileys' decodeBinaryNode and runs decryptMessageNode + decrypt(),
// exactly as messages-recv.js does; 'phone.companion.inject' / 'phone.companion.encrypt' build a
// session from a bundle and encrypt (the plaintext arrives padded) as relayMessage does.
import * as baileys6 from '@whiskeysockets/baileys'
import * as baileys7 from 'baileys'
import * as bin6 from '@whiskeysockets/baileys/lib/WABinary/index.js'
import * as bin7 from 'baileys/lib/WABinary/index.js'
import { decryptMessageNode as decrypt6 } from '@whiskeysockets/baileys/lib/Utils/decode-wa-message.js'
import { decryptMessageNode as decrypt7 } from 'baileys/lib/Utils/decode-wa-message.js'
import { makeLibSignalRepository as repo6 } from '@whiskeysockets/baileys/lib/Signal/libsignal.js'
import { makeLibSignalRepository as repo7 } from 'baileys/lib/Signal/libsignal.js'
import { proto as proto6 } from '@whiskeysockets/baileys/WAProto/index.js'
import { proto as proto7 } from 'baileys/WAProto/index.js'

const versions = {
  6: { lib: baileys6, bin: bin6, decrypt: decrypt6, repo: repo6, proto: proto6 },
  7: { lib: baileys7, bin: bin7, decrypt: decrypt7, repo: repo7, proto: proto7 },
}

const silent = { level: 'silent', trace() {}, debug() {}, info() {}, warn() {}, error() {}, fatal() {} }
silent.child = () => silent

function memoryKeys() {
  const data = {}
  return {
    get: async (type, ids) => {
      const out = {}
      for (const id of ids) {
        const value = data[type]?.[id]
        if (value !== undefined) out[id] = value
      }
      return out
    },
    set: async (update) => {
      for (const [type, entries] of Object.entries(update)) {
        data[type] = data[type] ?? {}
        for (const [id, value] of Object.entries(entries ?? {})) {
          if (value === null || value === undefined) delete data[type][id]
          else data[type][id] = value
        }
      }
    },
    transaction: async (fn) => fn(),
    isInTransaction: () => false,
  }
}

function companion(ctx, handle) {
  const c = ctx.get(handle)
  if (!c || !c.repository) throw new Error(`handle ${handle} is not a phone companion`)
  return c
}

export const ops = {
  // A Baileys companion with `preKeys` one-time prekeys; returns { handle, bundle } (32-byte keys).
  'phone.companion.create': async ({ version, preKeys = 3, meId, meLid }, ctx) => {
    const v = versions[version]
    if (!v) throw new Error(`unknown Baileys version ${version}`)
    const creds = v.lib.initAuthCreds()
    const keys = memoryKeys()
    const pairs = {}
    for (let id = 1; id <= preKeys; id++) pairs[id] = v.lib.Curve.generateKeyPair()
    await keys.set({ 'pre-key': pairs })
    const repository = version === 6 ? v.repo({ creds, keys }) : v.repo({ creds, keys }, silent, async () => [])
    const handle = ctx.put({ v, creds, keys, repository, meId, meLid })
    return {
      handle,
      bundle: {
        registrationId: creds.registrationId,
        identity: creds.signedIdentityKey.public,
        signedPreKey: {
          keyId: creds.signedPreKey.keyId,
          public: creds.signedPreKey.keyPair.public,
          signature: creds.signedPreKey.signature,
        },
        preKeys: Object.entries(pairs).map(([id, pair]) => ({ keyId: Number(id), public: pair.public })),
      },
    }
  },
  // Decode one frame (flag byte + node) and run Baileys' decryptMessageNode on it.
  'phone.companion.receive': async ({ handle, frame }, ctx) => {
    const c = companion(ctx, handle)
    const stanza = await c.v.bin.decodeBinaryNode(Buffer.from(frame))
    const { fullMessage, category, author, decrypt } = c.v.decrypt(stanza, c.meId, c.meLid, c.repository, silent)
    await decrypt()
    const message = fullMessage.message
    return {
      key: fullMessage.key,
      author,
      category: category ?? null,
      pushName: fullMessage.pushName ?? null,
      stubType: fullMessage.messageStubType ?? null,
      stubParameters: fullMessage.messageStubParameters ?? null,
      text: message?.conversation ?? message?.extendedTextMessage?.text ?? null,
      fields: message ? Object.keys(c.v.proto.Message.toObject(message)) : [],
      // the whole message, re-encoded, for checks of media fields
      encoded: message ? Buffer.from(c.v.proto.Message.encode(message).finish()) : null,
    }
  },
  // Build a session with `jid` from a bundle { registrationId, identity, signedPreKey{keyId, public,
  // signature}, preKey?{keyId, public} } (32-byte keys, as in an <iq xmlns="encrypt"> answer).
  'phone.companion.inject': async ({ handle, jid, bundle }, ctx) => {
    const c = companion(ctx, handle)
    const djb = (key) => Buffer.concat([Buffer.from([5]), Buffer.from(key)])
    const session = {
      registrationId: bundle.registrationId,
      identityKey: djb(bundle.identity),
      signedPreKey: {
        keyId: bundle.signedPreKey.keyId,
        publicKey: djb(bundle.signedPreKey.public),
        signature: Buffer.from(bundle.signedPreKey.signature),
      },
    }
    if (bundle.preKey) session.preKey = { keyId: bundle.preKey.keyId, publicKey: djb(bundle.preKey.public) }
    await c.repository.injectE2ESession({ jid, session })
    return true
  },
  // Encrypt an already padded plaintext for `jid`: { type: 'pkmsg'|'msg', ciphertext }.
  'phone.companion.encrypt': async ({ handle, jid, data }, ctx) => {
    const c = companion(ctx, handle)
    const { type, ciphertext } = await c.repository.encryptMessage({ jid, data: Buffer.from(data) })
    return { type, ciphertext: Buffer.from(ciphertext) }
  },
  // Baileys 7 only: remember LID<->PN pairs [{ lid, pn }] (what its usync device query stores).
  'phone.companion.mapLids': async ({ handle, pairs }, ctx) => {
    const c = companion(ctx, handle)
    if (!c.repository.lidMapping) throw new Error('this Baileys has no LID mapping store')
    await c.repository.lidMapping.storeLIDPNMappings(pairs)
    return true
  },
  'phone.companion.drop': async ({ handle }, ctx) => {
    companion(ctx, handle)
    ctx.drop(handle)
    return true
  },
}
