// Media-server ops: Baileys' own upload and download code (lib/Utils/messages-media.js, v6 and v7) against the
// sandbox media server (waproto/sandbox/media), over HTTPS.
//
//   media_server.<v>.upload   {plaintext, mediaType, hostname, auth, caFile?}
//                             -> {mediaKey, fileSha256, fileEncSha256, fileLength, url, directPath, refreshes}
//                                or {error, refreshes} when Baileys gives up
//   media_server.<v>.download {mediaKey, mediaType, url, directPath, connectTo?} -> {plaintext}
//
// upload encrypts with Baileys' encryptedStream, then runs the uploader getWAUploadToServer builds, with a
// media_conn made of `hostname` and `auth` (what the sandbox's media_conn IQ answered). `refreshes` counts how
// often Baileys asked for a fresh media_conn (it does so when an upload is refused).
//
// TLS trust: either the Node process was started with NODE_EXTRA_CA_CERTS naming the sandbox CA (the Python
// Harness takes `env=`), which covers v6's axios, v7's node:https upload and v7's fetch download alike; or, for
// uploads only, `caFile` makes the op pass Baileys `fetchAgent: new https.Agent({ca})` (the same socket config
// option makeWASocket takes): v6 hands it to axios as httpsAgent, v7 to node:https as agent. v7's download uses
// fetch, which ignores https agents (it wants an undici dispatcher), so it needs NODE_EXTRA_CA_CERTS.
//
// download runs downloadContentFromMessage. v7 builds https://<host of url><directPath>, so it reaches the sandbox
// by itself. v6 always builds https://mmg.whatsapp.net<directPath> (it keeps `url` only when it starts with that
// prefix), so `connectTo: "127.0.0.1:port"` passes it an https.Agent whose connections go to the sandbox while
// TLS still checks the name mmg.whatsapp.net (which the sandbox certificate must then carry).
import { promises as fs, readFileSync } from 'node:fs'
import https from 'node:https'
import tls from 'node:tls'

const versions = {
  v6: await import('@whiskeysockets/baileys/lib/Utils/messages-media.js'),
  v7: await import('baileys/lib/Utils/messages-media.js'),
}

const quiet = {
  level: 'silent',
  child() { return quiet },
  trace() {}, debug() {}, info() {}, warn() {}, error() {}, fatal() {},
}

async function settle(path, size) {
  // v6's encryptedStream can resolve before its file is flushed: wait (bounded) until it has every byte.
  for (let i = 0; i < 2000; i++) {
    const st = await fs.stat(path).catch(() => null)
    if (st && st.size >= size) return
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  throw new Error(`${path} never reached ${size} bytes`)
}

async function drain(stream) {
  const parts = []
  for await (const part of stream) parts.push(part)
  return Buffer.concat(parts)
}

// An agent that dials `host:port` whatever host the URL names; SNI and certificate checks keep the URL's name.
function redirectingAgent(connectTo) {
  const cut = connectTo.lastIndexOf(':')
  const host = connectTo.slice(0, cut).replace(/^\[|\]$/g, '')
  const port = Number(connectTo.slice(cut + 1))
  class Redirect extends https.Agent {
    createConnection(options) {
      return tls.connect({ ...options, host, port, servername: options.servername || options.host })
    }
  }
  return new Redirect({ keepAlive: false })
}

function opsFor(tag, mm) {
  return {
    [`media_server.${tag}.upload`]: async ({ plaintext, mediaType, hostname, auth, caFile }) => {
      const enc = await mm.encryptedStream(Buffer.from(plaintext), mediaType, { logger: quiet })
      let refreshes = 0
      const refreshMediaConn = async (force) => {
        if (force) refreshes++
        return { hosts: [{ hostname, maxContentLengthBytes: 0 }], auth, ttl: 300, fetchDate: new Date() }
      }
      try {
        await settle(enc.encFilePath, (Math.floor(enc.fileLength / 16) + 1) * 16 + 10)
        const upload = mm.getWAUploadToServer(
          { customUploadHosts: [], fetchAgent: caFile ? new https.Agent({ ca: readFileSync(caFile) }) : undefined,
            logger: quiet, options: {} },
          refreshMediaConn,
        )
        let urls
        try {
          urls = await upload(enc.encFilePath, {
            mediaType,
            fileEncSha256B64: enc.fileEncSha256.toString('base64'),
            timeoutMs: 20000,
          })
        } catch (err) {
          return { error: String(err?.message ?? err), refreshes }
        }
        return {
          mediaKey: enc.mediaKey,
          fileSha256: enc.fileSha256,
          fileEncSha256: enc.fileEncSha256,
          fileLength: enc.fileLength,
          url: urls.mediaUrl,
          directPath: urls.directPath,
          refreshes,
        }
      } finally {
        await fs.unlink(enc.encFilePath).catch(() => {})
      }
    },
    [`media_server.${tag}.download`]: async ({ mediaKey, mediaType, url, directPath, connectTo }) => {
      const agent = connectTo ? redirectingAgent(connectTo) : undefined
      try {
        const opts = agent ? { options: { httpsAgent: agent } } : {}
        const stream = await mm.downloadContentFromMessage({ mediaKey, directPath, url }, mediaType, opts)
        return { plaintext: await drain(stream) }
      } finally {
        agent?.destroy()
      }
    },
  }
}

export const ops = { ...opsFor('v6', versions.v6), ...opsFor('v7', versions.v7) }
