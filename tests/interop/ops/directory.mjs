// Directory ops: what a real Baileys socket (made by `sock.create`, linked and open) is told about numbers.
//
//   directory.onWhatsApp  {h, phones: ['15551234567', ...]} -> [{jid, exists, lid}]
//       Baileys' own `sock.onWhatsApp` (a usync query with <contact/> and <lid/>); like Baileys, only the
//       numbers that exist are listed.
import { withRoot } from '../lib/protoroot.mjs'

export const ops = {
  'directory.onWhatsApp': async ({ h, phones }, ctx) => {
    const state = ctx.get(h)
    if (!state || !state.sock) throw new Error(`handle ${h} is not a socket`)
    const found = await withRoot('proto', state.v.proto, () => state.sock.onWhatsApp(...phones))
    return (found ?? []).map(({ jid, exists, lid }) => ({ jid, exists: !!exists, lid: lid ?? null }))
  },
}
