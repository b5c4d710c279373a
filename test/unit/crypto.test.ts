import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { SecretBox, digestsEqual, hashToken, randomToken } from '../../src/security/crypto';

const key = () => randomBytes(32).toString('base64');

describe('SecretBox', () => {
  it('round-trips and never stores the plaintext', () => {
    const box = SecretBox.fromKeyList(`a:${key()}`);
    const sealed = box.seal('api-token-123');
    expect(sealed).not.toContain('api-token-123');
    expect(sealed.startsWith('v1.a.')).toBe(true);
    expect(box.open(sealed)).toBe('api-token-123');
    expect(box.seal('same')).not.toBe(box.seal('same'));
  });

  it('detects tampering', () => {
    const box = SecretBox.fromKeyList(`a:${key()}`);
    const parts = box.seal('secret').split('.');
    parts[4] = Buffer.from('forged').toString('base64url');
    expect(() => box.open(parts.join('.'))).toThrow();
  });

  it('rotates: a new primary key seals, old keys still open, needsReseal tells what to re-encrypt', () => {
    const oldKey = key();
    const before = SecretBox.fromKeyList(`old:${oldKey}`);
    const sealedWithOld = before.seal('secret');
    const after = SecretBox.fromKeyList(`new:${key()},old:${oldKey}`);
    expect(after.open(sealedWithOld)).toBe('secret');
    expect(after.needsReseal(sealedWithOld)).toBe(true);
    const resealed = after.seal(after.open(sealedWithOld));
    expect(after.needsReseal(resealed)).toBe(false);
    expect(() => SecretBox.fromKeyList(`other:${key()}`).open(sealedWithOld)).toThrow(/not in ENCRYPTION_KEYS/);
  });

  it('rejects malformed key lists with a clear message', () => {
    expect(() => SecretBox.fromKeyList('nokey')).toThrow(/keyId:base64key/);
    expect(() => SecretBox.fromKeyList(`a:${randomBytes(16).toString('base64')}`)).toThrow(/32 bytes/);
    expect(() => SecretBox.fromKeyList(`a:${key()},a:${key()}`)).toThrow(/twice/);
  });

  it('keeps a generated development key in the data folder, private, across restarts', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ugs-key-'));
    try {
      const sealed = SecretBox.fromDataDir(dir).seal('kept');
      expect(SecretBox.fromDataDir(dir).open(sealed)).toBe('kept');
      expect(fs.statSync(path.join(dir, 'encryption.key')).mode & 0o777).toBe(0o600);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('tokens', () => {
  it('are 256-bit random and compared by hash in constant time', () => {
    const token = randomToken();
    expect(Buffer.from(token, 'base64url')).toHaveLength(32);
    expect(randomToken()).not.toBe(token);
    expect(hashToken(token)).toMatch(/^[0-9a-f]{64}$/);
    expect(digestsEqual(hashToken(token), hashToken(token))).toBe(true);
    expect(digestsEqual(hashToken(token), hashToken(`${token}x`))).toBe(false);
    expect(digestsEqual('abc', 'abcd')).toBe(false);
  });
});
