import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { awsUriEncode, EMPTY_SHA256, signRequest } from './sigv4.js';

// The worked examples of AWS's "Signature Calculations for the Authorization Header" (S3 API reference).
const credentials = {
  accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
};
const date = new Date(Date.UTC(2013, 4, 24, 0, 0, 0));

describe('signRequest', () => {
  it('matches the AWS GET Object example', () => {
    const h = signRequest({
      method: 'GET',
      url: 'https://examplebucket.s3.amazonaws.com/test.txt',
      headers: { Range: 'bytes=0-9' },
      payloadHash: EMPTY_SHA256,
      region: 'us-east-1',
      credentials,
      date,
    });
    expect(h.authorization).toBe(
      'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, ' +
        'SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, ' +
        'Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
    );
  });

  it('matches the AWS PUT Object example', () => {
    const body = 'Welcome to Amazon S3.';
    const h = signRequest({
      method: 'PUT',
      url: `https://examplebucket.s3.amazonaws.com/${awsUriEncode('test$file.text', true)}`,
      headers: { Date: 'Fri, 24 May 2013 00:00:00 GMT', 'x-amz-storage-class': 'REDUCED_REDUNDANCY' },
      payloadHash: createHash('sha256').update(body).digest('hex'),
      region: 'us-east-1',
      credentials,
      date,
    });
    expect(h.authorization).toContain(
      'SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, ' +
        'Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd',
    );
  });

  it('matches the AWS GET Bucket (list objects) example with a query string', () => {
    const h = signRequest({
      method: 'GET',
      url: 'https://examplebucket.s3.amazonaws.com/?max-keys=2&prefix=J',
      headers: {},
      payloadHash: EMPTY_SHA256,
      region: 'us-east-1',
      credentials,
      date,
    });
    expect(h.authorization).toContain('Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7');
  });

  it('adds the session token and never puts the secret in a header', () => {
    const h = signRequest({
      method: 'HEAD',
      url: 'http://127.0.0.1:9000/b/k',
      headers: {},
      payloadHash: EMPTY_SHA256,
      region: 'auto',
      credentials: { ...credentials, sessionToken: 'TOKEN' },
      date,
    });
    expect(h['x-amz-security-token']).toBe('TOKEN');
    expect(JSON.stringify(h)).not.toContain(credentials.secretAccessKey);
  });
});
