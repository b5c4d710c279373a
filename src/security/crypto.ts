import { createCipheriv, createDecipheriv, randomBytes, timingSafeEqual, createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/**
 * Credentials at rest (target API tokens, IdP client secrets, Connect shared secrets) are sealed with
 * AES-256-GCM. The sealed form names the key that sealed it, so keys can rotate: put the new key
 * first in ENCRYPTION_KEYS, keep the old ones after it, run `cli secrets re-encrypt`, then drop them.
 *
 * Format: `v1.<keyId>.<iv b64url>.<tag b64url>.<ciphertext b64url>`
 */

const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;

export class SecretBox {
  private constructor(
    private readonly keys: Map<string, Buffer>,
    readonly primaryKeyId: string,
  ) {}

  /** Parses `keyId:base64key,keyId:base64key`; the first key is the one that encrypts. */
  static fromKeyList(list: string): SecretBox {
    const keys = new Map<string, Buffer>();
    let primary: string | undefined;
    for (const entry of list.split(',').map((e) => e.trim()).filter(Boolean)) {
      const separator = entry.indexOf(':');
      if (separator <= 0) throw new Error('ENCRYPTION_KEYS: each entry must be keyId:base64key');
      const id = entry.slice(0, separator);
      const key = Buffer.from(entry.slice(separator + 1), 'base64');
      if (!KEY_ID.test(id)) throw new Error(`ENCRYPTION_KEYS: key id "${id}" must match ${KEY_ID}`);
      if (key.length !== 32) throw new Error(`ENCRYPTION_KEYS: key "${id}" must be 32 bytes of base64 (got ${key.length})`);
      if (keys.has(id)) throw new Error(`ENCRYPTION_KEYS: key id "${id}" appears twice`);
      keys.set(id, key);
      primary ??= id;
    }
    if (!primary) throw new Error('ENCRYPTION_KEYS: no key given');
    return new SecretBox(keys, primary);
  }

  /**
   * Keys for a process without ENCRYPTION_KEYS (development, tests): one key generated on first use and
   * kept in the data folder (mode 0600), so secrets survive restarts. Production refuses this path.
   */
  static fromDataDir(dataDir: string): SecretBox {
    if (dataDir.startsWith('memory://')) return SecretBox.fromKeyList(`mem:${randomBytes(32).toString('base64')}`);
    fs.mkdirSync(dataDir, { recursive: true });
    const file = path.join(dataDir, 'encryption.key');
    try {
      fs.writeFileSync(file, `local:${randomBytes(32).toString('base64')}\n`, { flag: 'wx', mode: 0o600 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    return SecretBox.fromKeyList(fs.readFileSync(file, 'utf8').trim());
  }

  seal(plaintext: string): string {
    const key = this.keys.get(this.primaryKeyId)!;
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const tag = cipher.getAuthTag();
    return ['v1', this.primaryKeyId, iv.toString('base64url'), tag.toString('base64url'), ciphertext.toString('base64url')].join('.');
  }

  open(sealed: string): string {
    const [version, keyId, iv, tag, ciphertext] = sealed.split('.');
    if (version !== 'v1' || !keyId || iv === undefined || tag === undefined || ciphertext === undefined) {
      throw new Error('sealed secret is malformed');
    }
    const key = this.keys.get(keyId);
    if (!key) throw new Error(`sealed secret uses key "${keyId}", which is not in ENCRYPTION_KEYS`);
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
  }

  /** True when the value was sealed with a key other than the primary one (a rotation candidate). */
  needsReseal(sealed: string): boolean {
    return sealed.split('.')[1] !== this.primaryKeyId;
  }

  sealJson(value: unknown): string {
    return this.seal(JSON.stringify(value));
  }

  openJson<T = unknown>(sealed: string): T {
    return JSON.parse(this.open(sealed)) as T;
  }
}

/** A random token of `bytes` bytes, base64url (256 bits by default). */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/** SHA-256 hex of a high-entropy token. Tokens are random, so no salt or slow hash is needed. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Constant-time comparison of two hex digests (or any two strings of equal length). */
export function digestsEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  return left.length === right.length && timingSafeEqual(left, right);
}
