// Who is calling: HTTP Basic (`user:token`, what git's credential helpers send) or Bearer tokens, checked against
// the hashed tokens in the hub database; and short-lived signed tokens the LFS API puts in its action headers.
// Never logs or returns a secret.

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { type HubDatabase, verifyToken } from './db.js';

/** Longest Authorization header considered (a huge header is an attack on the parser, not a credential). */
const MAX_AUTHORIZATION_BYTES = 4096;
const ACTION_TOKEN_PREFIX = 'weftlfs1.';

/** The caller of a request: a user, anonymous, or someone whose credentials were wrong. */
export type Caller = { kind: 'user'; user: string } | { kind: 'anonymous' } | { kind: 'invalid' };

/**
 * Resolves the caller from an Authorization header (undefined: anonymous). A malformed header or an unknown token
 * is `invalid`, never anonymous: a client that sent credentials must learn they were refused (401).
 *
 * @example
 * authenticate(db, 'Basic ' + btoa('alice:weft_…')) // → { kind: 'user', user: 'alice' }
 */
export function authenticate(db: HubDatabase, header: string | undefined): Caller {
  if (header === undefined || header === '') return { kind: 'anonymous' };
  if (header.length > MAX_AUTHORIZATION_BYTES) return { kind: 'invalid' };
  const space = header.indexOf(' ');
  if (space < 0) return { kind: 'invalid' };
  const scheme = header.slice(0, space).toLowerCase();
  const value = header.slice(space + 1).trim();
  let token: string;
  if (scheme === 'basic') {
    let decoded: string;
    try {
      decoded = Buffer.from(value, 'base64').toString('utf8');
    } catch {
      return { kind: 'invalid' };
    }
    const colon = decoded.indexOf(':');
    if (colon < 0) return { kind: 'invalid' };
    token = decoded.slice(colon + 1);
  } else if (scheme === 'bearer') {
    token = value;
  } else {
    return { kind: 'invalid' };
  }
  // The user name sent with Basic is not trusted: the token alone says who this is (as on most forges).
  const user = verifyToken(db, token);
  return user === undefined ? { kind: 'invalid' } : { kind: 'user', user };
}

/** What a signed action token allows: one operation on one object of one repository, until it expires. */
export interface ActionClaim {
  /** The user the token was issued to ('' for an anonymous reader of a public repository). */
  user: string;
  repo: string;
  op: 'upload' | 'download' | 'verify';
  oid: string;
  /** For uploads: the size the batch request announced (the PUT must match it). */
  size?: number;
  /** Expiry, seconds since the epoch. */
  exp: number;
}

/**
 * Signs and checks the short-lived tokens put in LFS action headers (HMAC-SHA256 with a per-process secret, so a
 * restart invalidates them; clients then ask the batch API again, as the LFS spec expects).
 *
 * @example
 * const signer = new ActionSigner();
 * const token = signer.sign({ user: 'alice', repo: 'alice/m', op: 'upload', oid, exp: now + 3600 });
 * signer.verify(token) // → the claim, or undefined when forged or expired
 */
export class ActionSigner {
  private readonly secret: Buffer;

  constructor(secret: Uint8Array = randomBytes(32)) {
    this.secret = Buffer.from(secret);
  }

  sign(claim: ActionClaim): string {
    const payload = Buffer.from(JSON.stringify(claim), 'utf8').toString('base64url');
    return `${ACTION_TOKEN_PREFIX}${payload}.${this.mac(payload)}`;
  }

  /** The claim of a valid, unexpired token; undefined otherwise. */
  verify(token: string, nowSeconds = Math.floor(Date.now() / 1000)): ActionClaim | undefined {
    if (!token.startsWith(ACTION_TOKEN_PREFIX) || token.length > MAX_AUTHORIZATION_BYTES) return undefined;
    const [payload, mac] = token.slice(ACTION_TOKEN_PREFIX.length).split('.');
    if (!payload || !mac) return undefined;
    const expected = Buffer.from(this.mac(payload));
    const given = Buffer.from(mac);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) return undefined;
    let claim: ActionClaim;
    try {
      claim = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as ActionClaim;
    } catch {
      return undefined;
    }
    if (typeof claim.exp !== 'number' || claim.exp < nowSeconds) return undefined;
    return claim;
  }

  /** True when `header` is a Bearer action token (checked by {@link ActionSigner.verify}, not the database). */
  static isActionHeader(header: string | undefined): boolean {
    return header !== undefined && /^bearer\s+weftlfs1\./i.test(header);
  }

  static tokenOf(header: string): string {
    return header.replace(/^bearer\s+/i, '').trim();
  }

  private mac(payload: string): string {
    return createHmac('sha256', this.secret).update(payload).digest('base64url');
  }
}
