// Retry-receipt ops: what Baileys 7 takes from the <keys> of a retry receipt another client sent.
//
// 'retry.bundle' decodes a receipt frame with Baileys 7's binary decoder and hands it to Baileys 7's own
// extractE2ESessionFromRetryReceipt (lib/Utils/signal.js, the function its retry handling uses to start a
// session from the receipt); the bundle comes back in the shape 'signal.party.processBundle' takes, or
// null when Baileys finds no usable bundle.
const modules = new URL('../node_modules/', import.meta.url)
const binary = await import(new URL('baileys/lib/WABinary/index.js', modules))
const signal = await import(new URL('baileys/lib/Utils/signal.js', modules))

export const ops = {
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
