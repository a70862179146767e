// Binary-node ops: Baileys 6 and 7 encode/decode nodes, expose their token tables, and time themselves.
//
// Node JSON (shared with tests/waproto/binary/nodejson.py): {"tag": str, "attrs": {str: str},
// "content": null | [node, ...] | bytes | str}; bytes arrive here as Buffers (the bridge converts
// {"$b": base64}). Every op takes a batch, so one harness call covers many trees.
const modules = new URL('../node_modules/', import.meta.url)
const v6 = await import(new URL('@whiskeysockets/baileys/lib/WABinary/index.js', modules))
const v7 = await import(new URL('baileys/lib/WABinary/index.js', modules))
const c6 = await import(new URL('@whiskeysockets/baileys/lib/WABinary/constants.js', modules))
const c7 = await import(new URL('baileys/lib/WABinary/constants.js', modules))

const versions = { v6: { lib: v6, constants: c6 }, v7: { lib: v7, constants: c7 } }

// JSON node -> Baileys BinaryNode (content null -> undefined: Baileys writes no content then).
function toBaileys(node) {
  const content = node.content
  return {
    tag: node.tag,
    attrs: { ...(node.attrs ?? {}) },
    content: content === null || content === undefined
      ? undefined
      : Array.isArray(content) ? content.map(toBaileys) : content,
  }
}

// Baileys BinaryNode -> JSON node (content undefined -> null).
function fromBaileys(node) {
  const content = node.content
  return {
    tag: node.tag,
    attrs: { ...node.attrs },
    content: content === undefined ? null : Array.isArray(content) ? content.map(fromBaileys) : content,
  }
}

function encodeOp(version) {
  // {nodes: [node]} -> [bytes]: the frame plaintext, flag byte first, as Baileys sends it.
  return async ({ nodes }) => nodes.map((n) => versions[version].lib.encodeBinaryNode(toBaileys(n)))
}

function decodeOp(version) {
  // {frames: [bytes]} -> [{node} | {error}]: decodeBinaryNode handles the flag byte and zlib.
  return async ({ frames }) => {
    const out = []
    for (const frame of frames) {
      try {
        out.push({ node: fromBaileys(await versions[version].lib.decodeBinaryNode(Buffer.from(frame))) })
      } catch (err) {
        out.push({ error: String(err?.message ?? err) })
      }
    }
    return out
  }
}

// Operations per second of fn over the corpus, run until at least `seconds` of CPU time have passed.
// CPU time (user + system of this process), not wall time, so a busy machine skews less.
function rate(fn, items, seconds) {
  for (let i = 0; i < 3; i++) for (const item of items) fn(item) // warm the JIT
  const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6 }
  let ops = 0
  const start = cpu()
  let elapsed = 0
  do {
    for (const item of items) fn(item)
    ops += items.length
    elapsed = cpu() - start
  } while (elapsed < seconds)
  return ops / elapsed
}

async function rateAsync(fn, items, seconds) {
  for (let i = 0; i < 3; i++) for (const item of items) await fn(item)
  const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6 }
  let ops = 0
  const start = cpu()
  let elapsed = 0
  do {
    for (const item of items) await fn(item)
    ops += items.length
    elapsed = cpu() - start
  } while (elapsed < seconds)
  return ops / elapsed
}

export const ops = {
  'binary.tokens': async () => ({
    v6: { single: c6.SINGLE_BYTE_TOKENS, double: c6.DOUBLE_BYTE_TOKENS, tags: c6.TAGS },
    v7: { single: c7.SINGLE_BYTE_TOKENS, double: c7.DOUBLE_BYTE_TOKENS, tags: c7.TAGS },
  }),
  'binary.v6.encode': encodeOp('v6'),
  'binary.v7.encode': encodeOp('v7'),
  'binary.v6.decode': decodeOp('v6'),
  'binary.v7.decode': decodeOp('v7'),
  // {nodes, seconds, version} -> {encode_per_sec, decode_per_sec, decode_async_per_sec}, in CPU time.
  // decode_per_sec times Baileys' synchronous decodeDecompressedBinaryNode on the body after the flag
  // byte (its fastest path: what decodeBinaryNode does for an uncompressed frame, minus the promise);
  // decode_async_per_sec times the public decodeBinaryNode(frame), awaited, as Baileys' socket calls it.
  'binary.bench': async ({ nodes, seconds = 1, version = 'v6' }) => {
    const { lib, constants } = versions[version]
    const trees = nodes.map(toBaileys)
    const frames = trees.map((n) => lib.encodeBinaryNode(n))
    const encode_per_sec = rate((n) => lib.encodeBinaryNode(n), trees, seconds)
    const decode_per_sec = rate((f) => lib.decodeDecompressedBinaryNode(f.subarray(1), constants), frames, seconds)
    const decode_async_per_sec = await rateAsync((f) => lib.decodeBinaryNode(f), frames, seconds)
    return { encode_per_sec, decode_per_sec, decode_async_per_sec, version }
  },
}
