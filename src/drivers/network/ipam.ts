/**
 * Addresses from the --subnet pool. Pure: the caller passes the addresses in use (the
 * containers' records and creates under way); an address is never handed out twice
 * while held, and is free again once its container is destroyed.
 */
import { BadRequest } from '../../errors.js';

export interface Subnet {
  /** Network address as a 32-bit number. */
  network: number;
  prefix: number;
  /** The bridge's own address: the first host of the subnet. */
  gateway: number;
  /** First and last host addresses that containers may get. */
  first: number;
  last: number;
}

export function ipToNumber(ip: string): number {
  const parts = ip.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) throw new BadRequest(`bad address ${JSON.stringify(ip)}`);
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

export function numberToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

export function parseSubnet(cidr: string): Subnet {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(cidr.trim());
  if (!m) throw new BadRequest(`bad subnet ${JSON.stringify(cidr)}: want a CIDR like 10.88.0.0/16`);
  const prefix = Number(m[2]);
  if (prefix < 8 || prefix > 29) throw new BadRequest(`bad subnet ${JSON.stringify(cidr)}: the prefix must be 8 to 29`);
  const size = 2 ** (32 - prefix);
  const network = Math.floor(ipToNumber(m[1]!) / size) * size;
  return { network, prefix, gateway: network + 1, first: network + 2, last: network + size - 2 };
}

/** The lowest free address of the pool, or undefined when all are taken. */
export function allocate(subnet: Subnet, used: ReadonlySet<string>): string | undefined {
  for (let n = subnet.first; n <= subnet.last; n++) {
    const ip = numberToIp(n);
    if (!used.has(ip)) return ip;
  }
  return undefined;
}
