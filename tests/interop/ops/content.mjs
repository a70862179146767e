// Content ops: Baileys' own message-content helpers (lib/Utils/messages.js), v6 and v7, run on Message
// bytes we built, so that waproto/content.py's unwrapping and classification are checked against code we
// did not write.
//
//   content.inspect {lib, data} -> {type, wrapped, object}
//     data     a serialised proto.Message
//     type     getContentType(normalizeMessageContent(message)): the content field's name, or null
//     wrapped  getContentType(message) before normalising (the outer field's name, or null)
//     object   the normalised content field as toObject({longs: String, enums: Number, bytes: String})
//
// `lib` is "v6" (@whiskeysockets/baileys) or "v7" (baileys). Decoding points protobufjs' shared global root
// at that build for the duration (see ../lib/protoroot.mjs).
import { withRootSync } from '../lib/protoroot.mjs'

const libs = {
  v6: {
    proto: (await import('@whiskeysockets/baileys/WAProto/index.js')).proto,
    utils: await import('@whiskeysockets/baileys/lib/Utils/messages.js'),
  },
  v7: {
    proto: (await import('baileys/WAProto/index.js')).proto,
    utils: await import('baileys/lib/Utils/messages.js'),
  },
}

const OBJECT_OPTIONS = { longs: String, enums: Number, bytes: String }

export const ops = {
  'content.inspect': async ({ lib, data }) => {
    const chosen = libs[lib]
    if (!chosen) throw new Error(`unknown lib ${JSON.stringify(lib)}`)
    return withRootSync('proto', chosen.proto, (proto) => {
      const message = proto.Message.decode(data)
      const wrapped = chosen.utils.getContentType(message) ?? null
      const normalised = chosen.utils.normalizeMessageContent(message)
      const type = chosen.utils.getContentType(normalised) ?? null
      const inner = type === null ? null : normalised[type]
      let object = null
      if (inner !== null && typeof inner === 'object') {
        object = inner.constructor.toObject(inner, OBJECT_OPTIONS)
      } else if (inner !== null && inner !== undefined) {
        object = inner
      }
      return { type, wrapped, object }
    })
  },
}
