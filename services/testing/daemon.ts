import Ajv from 'ajv-draft-04'
import { defaultPropagators, hostForUrl, type XrayConfig } from '../platform'
import type { Entity, SegmentDocument } from '../xray'
import schema from './segment-document-schema-v1.0.0.json' with { type: 'json' }

export type { SegmentDocument }

export interface Datagram {
  readonly bytes: number
  readonly raw: string
  readonly document: SegmentDocument
}

export interface FakeDaemon {
  readonly port: number
  readonly address: string
  readonly datagrams: readonly Datagram[]
  /** Datagrams whose header or document did not validate, with the reasons. */
  readonly invalid: readonly { raw: string; errors: string }[]
  /** Resolves with every document received once `check` holds for the list. */
  waitFor(check: (documents: readonly SegmentDocument[]) => boolean): Promise<readonly SegmentDocument[]>
  clear(): void
  close(): void
  [Symbol.dispose](): void
}

const ajv = new Ajv({ allErrors: true, strict: false })
const validate = ajv.compile(schema)

/** Schema errors of one document, or undefined when it is valid. */
export function schemaErrors(document: unknown): string | undefined {
  return validate(document) ? undefined : ajv.errorsText(validate.errors)
}

/** Every subsegment in a document, nested ones included. */
export function allSubsegments(document: Entity): Entity[] {
  const out: Entity[] = []
  const walk = (entity: Entity) => {
    for (const child of entity.subsegments ?? []) {
      out.push(child)
      walk(child)
    }
  }
  walk(document)
  return out
}

/** A UDP port nothing listens on (sends to it are refused), for a daemon that is down and may come back there. */
export async function freeUdpPort(): Promise<number> {
  const probe = await Bun.udpSocket({ hostname: '127.0.0.1', port: 0 })
  const port = probe.port
  probe.close()
  return port
}

/**
 * A real UDP socket standing in for the X-Ray daemon; validates every datagram against the official schema.
 * `port` 0 (the default) picks a free one; a given port plays a daemon coming back where one was before.
 */
export async function startFakeDaemon(port = 0, host = '127.0.0.1'): Promise<FakeDaemon> {
  const datagrams: Datagram[] = []
  const invalid: { raw: string; errors: string }[] = []
  const waiters: {
    check: (documents: readonly SegmentDocument[]) => boolean
    resolve: (d: readonly SegmentDocument[]) => void
  }[] = []
  const documents = () => datagrams.map((d) => d.document)
  // The receive callback only keeps the bytes; parsing, validating and checking waiters happen once per turn of
  // the event loop. Done per datagram (listing every document so far for each), a burst of hundreds (a split
  // segment) made this receiver slow enough for the kernel to drop what its socket buffer could not hold.
  let received: { raw: string; bytes: number }[] = []
  let processScheduled = false
  const processReceived = () => {
    processScheduled = false
    const batch = received
    received = []
    for (const { raw, bytes } of batch) {
      const newline = raw.indexOf('\n')
      const header = newline < 0 ? '' : raw.slice(0, newline)
      if (header !== '{"format":"json","version":1}') {
        invalid.push({ raw, errors: `bad header ${JSON.stringify(header)}` })
        continue
      }
      let document: SegmentDocument
      try {
        document = JSON.parse(raw.slice(newline + 1)) as SegmentDocument
      } catch (error) {
        invalid.push({ raw, errors: String(error) })
        continue
      }
      if (!validate(document)) invalid.push({ raw, errors: ajv.errorsText(validate.errors) })
      datagrams.push({ bytes, raw, document })
    }
    if (waiters.length === 0) return
    const all = documents()
    for (const waiter of [...waiters]) {
      if (waiter.check(all)) {
        waiters.splice(waiters.indexOf(waiter), 1)
        waiter.resolve(all)
      }
    }
  }
  const socket = await Bun.udpSocket({
    hostname: host,
    port,
    socket: {
      data(_socket, buffer) {
        received.push({ raw: buffer.toString(), bytes: buffer.byteLength })
        if (!processScheduled) {
          processScheduled = true
          setImmediate(processReceived)
        }
      },
    },
  })
  const close = () => socket.close()
  return {
    port: socket.port,
    address: `${hostForUrl(host)}:${socket.port}`,
    datagrams,
    invalid,
    waitFor(check) {
      const all = documents()
      if (check(all)) return Promise.resolve(all)
      return new Promise((resolve) => waiters.push({ check, resolve }))
    },
    clear() {
      datagrams.length = 0
    },
    close,
    [Symbol.dispose]: close,
  }
}

/** The tracing configuration of a role sending to a daemon on this machine: UDP and TCP on one port, unless overridden. */
export function testXrayConfig(port: number, overrides: Partial<XrayConfig> = {}): XrayConfig {
  const address = { host: '127.0.0.1', port }
  return {
    enabled: true,
    tracingName: 'Test-Service',
    daemonUdp: address,
    daemonTcp: address,
    contextMissing: 'LOG_ERROR',
    collectSqlQueries: false,
    samplingRulesFile: undefined,
    propagators: defaultPropagators,
    ...overrides,
  }
}
