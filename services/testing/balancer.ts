import { connect, createServer, type Socket } from 'node:net'

export interface Balancer {
  readonly port: number
  /** Connections handed to each target so far, by port. */
  readonly connections: ReadonlyMap<number, number>
  /** Where new connections go from now on (open ones stay where they are), as in a rollout. */
  setTargets(ports: readonly number[]): void
  close(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

/**
 * A round-robin TCP load balancer on 127.0.0.1, as a Kubernetes Service spreads connections over replicas: each
 * new connection goes to the next target. A connection to a target that refuses it is closed, as kube-proxy does.
 */
export async function startBalancer(ports: readonly number[]): Promise<Balancer> {
  let targets = [...ports]
  let next = 0
  const connections = new Map<number, number>()
  const sockets = new Set<Socket>()
  const track = (socket: Socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => socket.destroy())
  }
  const server = createServer((client) => {
    track(client)
    const port = targets[next++ % targets.length]
    if (port === undefined) {
      client.destroy()
      return
    }
    connections.set(port, (connections.get(port) ?? 0) + 1)
    const upstream = connect(port, '127.0.0.1')
    track(upstream)
    client.pipe(upstream).pipe(client)
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const address = server.address()
  const close = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy()
      server.close(() => resolve())
    })
  return {
    port: typeof address === 'object' && address !== null ? address.port : 0,
    connections,
    setTargets(ports) {
      targets = [...ports]
    },
    close,
    [Symbol.asyncDispose]: close,
  }
}
