/**
 * Host ports held for port forwards, as docker-proxy holds them: per forward a listening
 * TCP socket or a bound UDP socket on HOSTIP:PORT (0.0.0.0 when the forward takes every
 * address), for as long as the forward exists.
 *
 * Binding is also the test of "in use": the kernel refuses it (EADDRINUSE) when a host
 * service listens on that port on an overlapping address (IPv4, or IPv6 dual-stack), or
 * another wardenfs daemon holds it; and while the socket is held no host service can take
 * the port. Nothing arrives on these sockets: the forward's DNAT (prerouting and output
 * hooks) takes every connection to that address and port first.
 */
import net from 'node:net';
import dgram from 'node:dgram';
import { AddressInUse, AddressNotAvailable } from '../../errors.js';
import { formatPortForward, type PortForward } from '../../model/net.js';
import { logger } from '../../util/log.js';

const log = logger('net');

interface Held { close(): Promise<void> }

/** What a forward holds: `127.0.0.1:8080/tcp`, `0.0.0.0:8080/tcp`. */
export function holdKey(f: PortForward): string {
  return `${f.hostIp ?? '0.0.0.0'}:${f.hostPort}/${f.proto}`;
}

function refused(f: PortForward, e: unknown): Error {
  const code = (e as NodeJS.ErrnoException).code;
  const where = `${f.hostIp ?? '0.0.0.0'}:${f.hostPort}/${f.proto}`;
  if (code === 'EADDRINUSE') return new AddressInUse(`host port ${where} is in use on the host (forward "${formatPortForward(f)}")`);
  if (code === 'EADDRNOTAVAIL') return new AddressNotAvailable(`${JSON.stringify(f.hostIp)} is not an address of this host (forward "${formatPortForward(f)}")`);
  return e as Error;
}

/** Bind (and for TCP listen on) the forward's host address and port; Node's sockets are close-on-exec. */
async function bind(f: PortForward): Promise<Held> {
  const host = f.hostIp ?? '0.0.0.0';
  try {
    if (f.proto === 'tcp') {
      const server = net.createServer((sock) => sock.destroy());
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ port: f.hostPort, host, backlog: 1, exclusive: true }, () => {
          server.off('error', reject);
          resolve();
        });
      });
      server.on('error', () => undefined); // a held port only sits there; the bind's own failure is seen above
      server.unref();
      return { close: () => new Promise<void>((r) => server.close(() => r())) };
    }
    const sock = dgram.createSocket({ type: 'udp4' });
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind({ port: f.hostPort, address: host, exclusive: true }, () => {
        sock.off('error', reject);
        resolve();
      });
    });
    sock.on('error', () => undefined); // likewise
    sock.on('message', () => undefined); // datagrams to a held port are dropped
    sock.unref();
    return { close: () => new Promise<void>((r) => sock.close(() => r())) };
  } catch (e) {
    throw refused(f, e);
  }
}

/** The held ports of every container of this daemon, by container name. */
export class PortHolder {
  private readonly owners = new Map<string, Map<string, { forward: PortForward; held: Held }>>();

  /**
   * Hold exactly `forwards` for `owner`: ports it no longer wants are released first (a
   * port may move from every address to one), new ones bound. If one cannot be bound,
   * everything is as it was before and the error (AddressInUse, AddressNotAvailable) is
   * thrown. Returns an undo for a later step that fails (the nft transaction).
   */
  async set(owner: string, forwards: PortForward[]): Promise<() => Promise<void>> {
    const before = this.owners.get(owner) ?? new Map<string, { forward: PortForward; held: Held }>();
    const wanted = new Map(forwards.map((f) => [holdKey(f), f]));
    const dropped = [...before].filter(([k]) => !wanted.has(k));
    for (const [, d] of dropped) await d.held.close();
    const after = new Map([...before].filter(([k]) => wanted.has(k)));
    const added: Held[] = [];
    const undo = async (): Promise<void> => {
      for (const h of added) await h.close();
      for (const [k, d] of dropped) {
        // Best effort: the port was free a moment ago, and the forward still has it.
        const again = await bind(d.forward).catch((e: unknown) => {
          log('%s: the port of %s could not be held again: %s', owner, formatPortForward(d.forward), e);
          return undefined;
        });
        if (again) after.set(k, { forward: d.forward, held: again });
      }
      for (const k of [...after.keys()]) if (!before.has(k)) after.delete(k);
      this.store(owner, after);
    };
    for (const [k, f] of wanted) {
      if (after.has(k)) continue;
      try {
        const held = await bind(f);
        added.push(held);
        after.set(k, { forward: f, held });
      } catch (e) {
        await undo();
        throw e;
      }
    }
    this.store(owner, after);
    return undo;
  }

  /**
   * Hold a restarted daemon's recorded forwards (the kernel kept the forwards, not the
   * sockets). One that cannot be bound is not fatal: the forward stays; the errors are
   * returned for the container's events.
   */
  async adopt(owner: string, forwards: PortForward[]): Promise<Error[]> {
    const errors: Error[] = [];
    const map = this.owners.get(owner) ?? new Map<string, { forward: PortForward; held: Held }>();
    for (const f of forwards) {
      if (map.has(holdKey(f))) continue;
      try {
        map.set(holdKey(f), { forward: f, held: await bind(f) });
      } catch (e) {
        errors.push(e as Error);
      }
    }
    this.store(owner, map);
    return errors;
  }

  /** Release every port of `owner` (destroy, failed create). Idempotent. */
  async release(owner: string): Promise<void> {
    const map = this.owners.get(owner);
    this.owners.delete(owner);
    for (const { held } of map?.values() ?? []) await held.close();
  }

  /** The held ports of `owner` (tests, debugging). */
  keys(owner: string): string[] {
    return [...(this.owners.get(owner)?.keys() ?? [])];
  }

  private store(owner: string, map: Map<string, { forward: PortForward; held: Held }>): void {
    if (map.size === 0) this.owners.delete(owner);
    else this.owners.set(owner, map);
  }
}
