import { describe, expect, it } from 'vitest';
import { parseCgiHeaders } from './git-http.js';

describe('parseCgiHeaders', () => {
  it('takes the status from Status and keeps the other headers', () => {
    const { status, headers } = parseCgiHeaders(
      'Status: 403 Forbidden\r\nContent-Type: text/plain\r\nCache-Control: no-cache\r\nExpires: Fri, 01 Jan 1980 00:00:00 GMT',
    );
    expect(status).toBe(403);
    expect(headers.get('content-type')).toBe('text/plain');
    expect(headers.get('cache-control')).toBe('no-cache');
    expect(headers.has('status')).toBe(false);
  });

  it('defaults to 200, accepts bare LF and drops malformed lines', () => {
    const { status, headers } = parseCgiHeaders(
      'Content-Type: application/x-git-upload-pack-advertisement\nnonsense\nStatus: 999',
    );
    expect(status).toBe(200);
    expect([...headers.keys()]).toEqual(['content-type']);
  });
});
