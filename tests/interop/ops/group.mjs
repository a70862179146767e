// Group (sender-key) ops: drive Baileys' own Signal group code (lib/Signal/Group, v6 and v7), whose
// primitives come from libsignal-node 6.0.0 (HMAC/HKDF/AES-CBC in crypto.js, XEdDSA in curve.js).
//
//   group.party.create  {version}                                     -> handle   one member's key store
//   group.party.drop    {party}
//   group.skdm.create   {party, group, sender, device}                -> bytes    GroupSessionBuilder.create
//   group.skdm.process  {party, group, sender, device, skdm}                      GroupSessionBuilder.process
//   group.encrypt       {party, group, sender, device, plaintexts}    -> [bytes]  GroupCipher.encrypt, in order
//   group.decrypt       {party, group, sender, device, messages}      -> [{ok, plaintext} | {ok, error}]
//   group.state         {party, group, sender, device}                -> [{keyId, iteration, skipped}]
//
// A party's store behaves like Baileys' signalStorage: a missing record loads as an empty SenderKeyRecord,
// and records are kept as JSON text (so every call goes through deserialize/serialize). Buffers are written
// with Baileys' BufferJSON.replacer (base64). Baileys' own storeSenderKey uses a plain JSON.stringify, whose
// {type: 'Buffer', data: [numbers]} Baileys 7's reviver does not turn back into Buffers: with it, Baileys 7
// cannot decrypt a late (skipped-key) group message after a reload. That is Baileys' storage, not its group
// cipher, which is what these ops check.
// Nothing here re-implements the group cipher: every byte comes from Baileys' classes.
import { createRequire } from 'node:module'

import { proto as proto6 } from '@whiskeysockets/baileys/WAProto/index.js'
import { proto as proto7 } from 'baileys/WAProto/index.js'

import { withRoot } from '../lib/protoroot.mjs'

const require = createRequire(import.meta.url)
const { ProtocolAddress } = require('libsignal')

// Baileys 6's Group modules reach its Utils (for BufferJSON) through a circular import that only resolves
// when the package's entry point has been evaluated first; importing them directly throws a ReferenceError.
await import('@whiskeysockets/baileys/lib/index.js')
const group6 = await import('@whiskeysockets/baileys/lib/Signal/Group/index.js')
const group7 = await import('baileys/lib/Signal/Group/index.js')
const { BufferJSON: json6 } = await import('@whiskeysockets/baileys/lib/Utils/generics.js')
const { BufferJSON: json7 } = await import('baileys/lib/Utils/generics.js')

const versions = {
  6: { group: group6, proto: proto6, json: json6 },
  7: { group: group7, proto: proto7, json: json7 },
}

function party(ctx, handle) {
  const p = ctx.get(handle)
  if (!p || !p.records) throw new Error(`handle ${handle} is not a group party`)
  return p
}

function senderName(p, { group, sender, device }) {
  return new p.v.group.SenderKeyName(group, new ProtocolAddress(String(sender), Number(device ?? 0)))
}

function storage(p) {
  return {
    loadSenderKey: async (name) => {
      const text = p.records.get(name.toString())
      return text === undefined ? new p.v.group.SenderKeyRecord() : p.v.group.SenderKeyRecord.deserialize(text)
    },
    storeSenderKey: async (name, record) => {
      p.records.set(name.toString(), JSON.stringify(record.serialize(), p.v.json.replacer))
    },
  }
}

function run(p, fn) {
  return withRoot('proto', p.v.proto, fn)
}

export const ops = {
  'group.party.create': async ({ version }, ctx) => {
    const v = versions[version]
    if (!v) throw new Error(`unknown Baileys version ${version}`)
    return ctx.put({ version, v, records: new Map() })
  },
  'group.party.drop': async ({ party: h }, ctx) => {
    party(ctx, h)
    ctx.drop(h)
    return null
  },
  'group.skdm.create': async (args, ctx) => {
    const p = party(ctx, args.party)
    return run(p, async () => {
      const builder = new p.v.group.GroupSessionBuilder(storage(p))
      const skdm = await builder.create(senderName(p, args))
      return skdm.serialize()
    })
  },
  'group.skdm.process': async (args, ctx) => {
    const p = party(ctx, args.party)
    return run(p, async () => {
      const message = new p.v.group.SenderKeyDistributionMessage(null, null, null, null, Buffer.from(args.skdm))
      await new p.v.group.GroupSessionBuilder(storage(p)).process(senderName(p, args), message)
      return null
    })
  },
  'group.encrypt': async (args, ctx) => {
    const p = party(ctx, args.party)
    return run(p, async () => {
      const cipher = new p.v.group.GroupCipher(storage(p), senderName(p, args))
      const out = []
      for (const plaintext of args.plaintexts) out.push(await cipher.encrypt(Buffer.from(plaintext)))
      return out
    })
  },
  'group.decrypt': async (args, ctx) => {
    const p = party(ctx, args.party)
    return run(p, async () => {
      const cipher = new p.v.group.GroupCipher(storage(p), senderName(p, args))
      const out = []
      for (const message of args.messages) {
        try {
          out.push({ ok: true, plaintext: Buffer.from(await cipher.decrypt(Buffer.from(message))) })
        } catch (err) {
          out.push({ ok: false, error: String(err?.message ?? err) })
        }
      }
      return out
    })
  },
  'group.state': async (args, ctx) => {
    const p = party(ctx, args.party)
    const text = p.records.get(senderName(p, args).toString())
    if (text === undefined) return []
    const record = p.v.group.SenderKeyRecord.deserialize(text)
    return record.senderKeyStates.map((state) => ({
      keyId: state.getKeyId(),
      iteration: state.getSenderChainKey().getIteration(),
      skipped: state.getStructure().senderMessageKeys.length,
    }))
  },
}
