// Baileys 6 and 7 share one protobufjs instance, and both WAProto builds register themselves as
// `protobuf.roots.default.proto`; their generated code resolves nested message types through that
// global, so whichever build was imported last would decode the other's nested messages. Any op that
// runs Baileys code touching protobufs wraps it in `withRoot`, which points the global at the right
// build for the duration and restores what was there. The harness runs one op at a time, so an async
// `fn` is safe too.
import $protobuf from 'protobufjs/minimal.js'

export async function withRoot(name, namespace, fn) {
  const root = $protobuf.roots.default
  const had = Object.prototype.hasOwnProperty.call(root, name)
  const previous = root[name]
  root[name] = namespace
  try {
    return await fn(namespace)
  } finally {
    if (had) root[name] = previous
    else delete root[name]
  }
}

// The synchronous form, for callers that must not yield.
export function withRootSync(name, namespace, fn) {
  const root = $protobuf.roots.default
  const had = Object.prototype.hasOwnProperty.call(root, name)
  const previous = root[name]
  root[name] = namespace
  try {
    return fn(namespace)
  } finally {
    if (had) root[name] = previous
    else delete root[name]
  }
}
