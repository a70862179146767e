// Core ops: which Baileys versions the harness loaded.
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)

export const ops = {
  'harness.versions': async () => ({
    node: process.versions.node,
    baileys6: require('@whiskeysockets/baileys/package.json').version,
    baileys7: require('baileys/package.json').version,
    libsignal: require('libsignal/package.json').version,
  }),
}
