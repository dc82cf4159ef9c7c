import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ActionSigner, authenticate } from './auth.js';
import { createToken, createUser, openHubDatabase } from './db.js';

const dir = mkdtempSync(join(tmpdir(), 'weft-hubauth-'));
const db = openHubDatabase(join(dir, 'hub.db'));
createUser(db, { name: 'alice' });
const { token } = createToken(db, { user: 'alice' });
afterAll(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('authenticate', () => {
  it('accepts Basic (any user name, the token decides) and Bearer', () => {
    expect(authenticate(db, `Basic ${b64(`alice:${token}`)}`)).toEqual({ kind: 'user', user: 'alice' });
    expect(authenticate(db, `basic ${b64(`x-token:${token}`)}`)).toEqual({ kind: 'user', user: 'alice' });
    expect(authenticate(db, `Bearer ${token}`)).toEqual({ kind: 'user', user: 'alice' });
  });

  it('treats no header as anonymous, and anything wrong as invalid (never anonymous)', () => {
    expect(authenticate(db, undefined)).toEqual({ kind: 'anonymous' });
    expect(authenticate(db, '')).toEqual({ kind: 'anonymous' });
    for (const h of [
      'Basic',
      `Basic ${b64('alice')}`,
      `Basic ${b64(`alice:${token}x`)}`,
      'Bearer weft_wrong',
      `Digest ${token}`,
      `Bearer ${'a'.repeat(10_000)}`,
      'Basic !!!',
    ]) {
      expect(authenticate(db, h), h.slice(0, 40)).toEqual({ kind: 'invalid' });
    }
  });
});

describe('ActionSigner', () => {
  const signer = new ActionSigner();
  const claim = { user: 'alice', repo: 'alice/m', op: 'upload' as const, oid: 'a'.repeat(64), size: 3, exp: 2_000 };

  it('round-trips a claim until it expires', () => {
    const t = signer.sign(claim);
    expect(ActionSigner.isActionHeader(`Bearer ${t}`)).toBe(true);
    expect(ActionSigner.isActionHeader(`Bearer ${token}`)).toBe(false);
    expect(signer.verify(t, 1_000)).toEqual(claim);
    expect(signer.verify(t, 2_001)).toBeUndefined();
  });

  it('refuses forged, altered and foreign tokens', () => {
    const t = signer.sign(claim);
    const [prefix, payload, mac] = [t.slice(0, 9), ...t.slice(9).split('.')] as [string, string, string];
    const altered = Buffer.from(JSON.stringify({ ...claim, op: 'download' })).toString('base64url');
    expect(signer.verify(`${prefix}${altered}.${mac}`, 1_000)).toBeUndefined();
    expect(signer.verify(`${prefix}${payload}.${mac.slice(0, -2)}xx`, 1_000)).toBeUndefined();
    expect(new ActionSigner().verify(t, 1_000)).toBeUndefined();
    expect(signer.verify('weftlfs1.', 1_000)).toBeUndefined();
    expect(signer.verify(token, 1_000)).toBeUndefined();
  });
});
