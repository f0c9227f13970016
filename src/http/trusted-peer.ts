/**
 * isTrustedPeer: is the connection's own peer address (never X-Forwarded-For) one of
 * server.trustedProxies? Only such peers are believed about request ids and client certificates.
 */
import { isIPv4, type BlockList } from 'node:net';

export function isTrustedPeer(address: string | undefined, trusted: BlockList): boolean {
  if (address === undefined) return false;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped !== undefined) return trusted.check(mapped, 'ipv4') || trusted.check(address, 'ipv6');
  return trusted.check(address, isIPv4(address) ? 'ipv4' : 'ipv6');
}
