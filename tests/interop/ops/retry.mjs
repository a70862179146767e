// Retry-receipt ops: what Baileys 7 takes from the <keys> of a retry receipt another client sent.
//
// 'retry.bundle' decodes a receipt frame with Baileys 7's binary decoder and hands it to Baileys 7's own
// extractE2ESessionFromRetryReceipt (lib/Utils/signal.js, the function its retry handling uses to start a
// session from the receipt); the bundle comes back in the shape 'signal.party.processBundle' takes, or
// null when Baileys finds no usable bundle.
// 'retry.receiptFrame' is the other direction: the retry receipt Baileys 7 would send (its retry node, its
// registration, and <keys> built with its own xmppPreKey / xmppSignedPreKey helpers) for a libsignal party
// of signal.mjs, encoded with Baileys 7's binary encoder.
const modules = new URL('../node_modules/', import.meta.url)
const binary = await import(new URL('baileys/lib/WABinary/index.js', modules))
const signal = await import(new URL('baileys/lib/Utils/signal.js', modules))
const generics = await import(new URL('baileys/lib/Utils/generics.js', modules))
const defaults = await import(new URL('baileys/lib/Defaults/index.js', modules))

// libsignal keeps 33-byte (05-prefixed) public keys; Baileys' key nodes carry 32.
const raw = (pub) => (pub.length === 33 ? pub.subarray(1) : pub)

export const ops = {
  'retry.receiptFrame': async ({ handle, id, from, count, t = '1700000000' }, ctx) => {
    const party = ctx.get(handle)
    const [preKeyId, pair] = party.preKeys.entries().next().value
    const spk = party.signedPreKey
    const receipt = {
      tag: 'receipt',
      attrs: { id, type: 'retry', from },
      content: [
        { tag: 'retry', attrs: { count: String(count), id, t, v: '1' } },
        { tag: 'registration', attrs: {}, content: generics.encodeBigEndian(party.registrationId) },
        {
          tag: 'keys',
          attrs: {},
          content: [
            { tag: 'type', attrs: {}, content: Buffer.from(defaults.KEY_BUNDLE_TYPE) },
            { tag: 'identity', attrs: {}, content: raw(party.identity.pubKey) },
            signal.xmppPreKey({ public: raw(pair.pubKey) }, preKeyId),
            signal.xmppSignedPreKey({ keyId: spk.keyId, keyPair: { public: raw(spk.keyPair.pubKey) }, signature: spk.signature }),
          ],
        },
      ],
    }
    return binary.encodeBinaryNode(receipt)
  },
  'retry.bundle': async ({ frame }) => {
    const receipt = await binary.decodeBinaryNode(Buffer.from(frame))
    const bundle = signal.extractE2ESessionFromRetryReceipt(receipt)
    if (!bundle) return null
    return {
      registrationId: bundle.registrationId,
      identityKey: bundle.identityKey,
      signedPreKey: bundle.signedPreKey,
      preKey: bundle.preKey ?? null,
    }
  },
}
