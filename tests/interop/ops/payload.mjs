// ClientPayload ops: what Baileys 6 and 7 send in the Noise ClientFinish, so that waproto/payload.py is
// compared with payloads we did not build.
//
//   payload.<v>.registration {registrationId, identity, spkId, spkPublic, spkSignature, version, browser}
//       -> ClientPayload.encode(generateRegistrationNode(creds, config)) bytes
//   payload.<v>.login {jid, version, browser} -> ClientPayload.encode(generateLoginNode(jid, config)) bytes
//
// `version` is [primary, secondary, tertiary]; `browser` is Baileys' [os, browser, osVersion]. The config
// otherwise is Baileys' defaults (countryCode "US", syncFullHistory false, no push name).
import * as baileys6 from '@whiskeysockets/baileys'
import * as baileys7 from 'baileys'
import { proto as proto6 } from '@whiskeysockets/baileys/WAProto/index.js'
import { proto as proto7 } from 'baileys/WAProto/index.js'

import { withRootSync } from '../lib/protoroot.mjs'

const libs = { v6: [baileys6, proto6], v7: [baileys7, proto7] }

function config(version, browser) {
  return { version, browser, countryCode: 'US', syncFullHistory: false }
}

function lib(v) {
  const found = libs[v]
  if (!found) throw new Error(`unknown version ${JSON.stringify(v)}`)
  return found
}

export const ops = {}
for (const v of Object.keys(libs)) {
  ops[`payload.${v}.registration`] = async ({ registrationId, identity, spkId, spkPublic, spkSignature, version, browser }) => {
    const [b, proto] = lib(v)
    const creds = {
      registrationId,
      signedIdentityKey: { public: Buffer.from(identity) },
      signedPreKey: { keyId: spkId, keyPair: { public: Buffer.from(spkPublic) }, signature: Buffer.from(spkSignature) },
    }
    return withRootSync('proto', proto, () =>
      proto.ClientPayload.encode(b.generateRegistrationNode(creds, config(version, browser))).finish())
  }
  ops[`payload.${v}.login`] = async ({ jid, version, browser }) => {
    const [b, proto] = lib(v)
    return withRootSync('proto', proto, () =>
      proto.ClientPayload.encode(b.generateLoginNode(jid, config(version, browser))).finish())
  }
}
