/**
 * SSRF guard: decide whether an IP address may be contacted, and resolve a
 * hostname to a vetted address that the connection is then pinned to.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import ipaddr from 'ipaddr.js';
import { DownloadError } from './errors.ts';

export interface AddressPolicy {
  /** Permit 127.0.0.0/8 and ::1 (tests, local Discord emulator CDN). */
  allowLoopback?: boolean;
  /** Permit RFC 1918, CGNAT (100.64/10) and unique-local fc00::/7 addresses. Link-local (cloud metadata) stays blocked. */
  allowPrivate?: boolean;
  /**
   * Exact origins ("http://127.0.0.1:8080") that skip the address check —
   * lets a test or the emulator CDN be reached without opening all of loopback.
   * Every other hop (e.g. a redirect target) is still checked.
   */
  allowOrigins?: readonly string[];
}

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Resolver returning every address for a name (dns.lookup with all: true). Injectable for tests. */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

export const systemResolver: Resolver = async (hostname) => {
  const found = await dnsLookup(hostname, { all: true, verbatim: true });
  return found.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
};

// ipaddr.js range names; its .d.ts omits a few (e.g. 'discard'), so plain strings.
const LOOPBACK = new Set(['loopback']);
const PRIVATE = new Set(['private', 'uniqueLocal', 'carrierGradeNat']);

/** Returns the ipaddr.js range name when the address must not be contacted, else null. */
export function blockedRange(address: string, policy: AddressPolicy = {}): string | null {
  if (!ipaddr.isValid(address)) return 'invalid';
  let ip = ipaddr.parse(address);
  if (ip.kind() === 'ipv6') {
    const v6 = ip as ipaddr.IPv6;
    const bytes = v6.toByteArray();
    // ::ffff:a.b.c.d, NAT64 64:ff9b::a.b.c.d and the deprecated IPv4-compatible ::a.b.c.d
    // (URL writes [::127.0.0.1] as ::7f00:1, which ipaddr.js calls unicast) reach IPv4 hosts:
    // judge the embedded address. :: and ::1 keep their own ranges.
    const ipv4Compatible = v6.range() === 'unicast' && bytes.slice(0, 12).every((b) => b === 0);
    if (v6.isIPv4MappedAddress()) ip = v6.toIPv4Address();
    else if (v6.range() === 'rfc6052' || ipv4Compatible) ip = ipaddr.fromByteArray(bytes.slice(12));
  }
  const range: string = ip.range();
  if (range === 'unicast') return null;
  if (policy.allowLoopback && LOOPBACK.has(range)) return null;
  if (policy.allowPrivate && PRIVATE.has(range)) return null;
  return range;
}

/** URL.hostname keeps IPv6 literals bracketed; sockets and ipaddr.js want them bare. */
export function bareHostname(url: URL): string {
  const h = url.hostname.toLowerCase();
  return h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h;
}

/**
 * Resolve `url`'s host and return the addresses the connection may use.
 * Every resolved address must pass — a name that mixes public and private
 * answers is refused, since we can't know which one a later lookup would
 * hand out.
 */
export async function resolveVetted(url: URL, policy: AddressPolicy, resolve: Resolver = systemResolver): Promise<ResolvedAddress[]> {
  const host = bareHostname(url);
  const originAllowed = policy.allowOrigins?.includes(url.origin) ?? false;

  let addresses: ResolvedAddress[];
  if (ipaddr.isValid(host)) {
    addresses = [{ address: host, family: host.includes(':') ? 6 : 4 }];
  } else {
    try {
      addresses = await resolve(host);
    } catch (cause) {
      throw new DownloadError('NETWORK', { detail: `DNS lookup failed for ${host}`, cause });
    }
    if (addresses.length === 0) {
      throw new DownloadError('NETWORK', { detail: `DNS lookup returned no addresses for ${host}` });
    }
  }

  if (!originAllowed) {
    for (const a of addresses) {
      const range = blockedRange(a.address, policy);
      if (range !== null) {
        throw new DownloadError('BLOCKED_ADDRESS', { detail: `${host} resolves to ${a.address} (${range})` });
      }
    }
  }
  return addresses;
}
