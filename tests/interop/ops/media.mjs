// Media ops: Baileys' own media-crypto functions (lib/Utils/messages-media.js), v6 and v7, so that
// waproto/media.py is checked against code we did not write.
//
//   media.<v>.keys            {mediaKey, mediaType}         -> {iv, cipherKey, macKey, info}   (getMediaKeys, hkdfInfoKey)
//   media.<v>.encryptedStream {plaintext | chunks, mediaType} -> {mediaKey, enc, mac, fileSha256, fileEncSha256, fileLength}
//   media.<v>.download        {enc, mediaKey, mediaType, startByte?, endByte?, chunkSize?} -> {plaintext}
//
// encryptedStream draws its own random media key and writes `ct || mac` to a temporary file; v6 returns before
// that file is flushed (PROTOCOL.md §12.9), so the op waits until the file has its full size, reads it and deletes it.
// download runs Baileys' downloadEncryptedContent against a throwaway HTTP server on 127.0.0.1 that serves `enc`
// (honouring Range, as the media servers do), so Baileys' fetch/axios path and its ranged-IV logic are exercised.
// Baileys' download checks neither the MAC nor the hashes; it simply never decrypts the last 10 bytes.
import { once } from 'node:events'
import { createServer } from 'node:http'
import { promises as fs } from 'node:fs'
import { Readable } from 'node:stream'

const versions = {
  v6: await import('@whiskeysockets/baileys/lib/Utils/messages-media.js'),
  v7: await import('baileys/lib/Utils/messages-media.js'),
}

// ---------------------------------------------------------------- a local server for downloads
const blobs = new Map()
let nextBlob = 1
let server = null
let port = 0

async function serve() {
  if (server) return port
  server = createServer((req, res) => {
    const id = Number(new URL(req.url, 'http://127.0.0.1').pathname.slice(1))
    const body = blobs.get(id)
    if (!body) {
      res.writeHead(404).end()
      return
    }
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '')
    if (range) {
      const start = Number(range[1])
      const end = range[2] === '' ? body.length - 1 : Math.min(Number(range[2]), body.length - 1)
      res.writeHead(206, {
        'Content-Type': 'application/octet-stream',
        'Content-Range': `bytes ${start}-${end}/${body.length}`,
        'Content-Length': String(end - start + 1),
      })
      res.end(body.subarray(start, end + 1))
      return
    }
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(body.length) })
    res.end(body)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  server.unref()
  port = server.address().port
  return port
}

async function collect(stream) {
  const parts = []
  for await (const part of stream) parts.push(part)
  return Buffer.concat(parts)
}

// ---------------------------------------------------------------- ops, one set per Baileys version
async function waitForSize(path, size) {
  // v6's encryptedStream resolves before its write stream finishes: wait (bounded) for the bytes to land.
  for (let i = 0; i < 2000; i++) {
    const st = await fs.stat(path).catch(() => null)
    if (st && st.size >= size) return
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  throw new Error(`encrypted file ${path} never reached ${size} bytes`)
}

function opsFor(tag, mm) {
  return {
    [`media.${tag}.keys`]: async ({ mediaKey, mediaType }) => {
      const { iv, cipherKey, macKey } = await mm.getMediaKeys(mediaKey, mediaType)
      return { iv, cipherKey, macKey, info: mm.hkdfInfoKey(mediaType) }
    },
    [`media.${tag}.encryptedStream`]: async ({ plaintext, chunks, mediaType }) => {
      const media = chunks ? { stream: Readable.from(chunks.map((c) => Buffer.from(c))) } : Buffer.from(plaintext)
      const r = await mm.encryptedStream(media, mediaType)
      try {
        const encLength = (Math.floor(r.fileLength / 16) + 1) * 16 + 10
        await waitForSize(r.encFilePath, encLength)
        const enc = await fs.readFile(r.encFilePath)
        return {
          mediaKey: r.mediaKey,
          enc,
          mac: r.mac,
          fileSha256: r.fileSha256,
          fileEncSha256: r.fileEncSha256,
          fileLength: r.fileLength,
        }
      } finally {
        await fs.unlink(r.encFilePath).catch(() => {})
      }
    },
    [`media.${tag}.download`]: async ({ enc, mediaKey, mediaType, startByte, endByte }) => {
      const p = await serve()
      const id = nextBlob++
      blobs.set(id, Buffer.from(enc))
      try {
        const keys = await mm.getMediaKeys(mediaKey, mediaType)
        const stream = await mm.downloadEncryptedContent(`http://127.0.0.1:${p}/${id}`, keys, { startByte, endByte })
        return { plaintext: await collect(stream) }
      } finally {
        blobs.delete(id)
      }
    },
  }
}

export const ops = { ...opsFor('v6', versions.v6), ...opsFor('v7', versions.v7) }
