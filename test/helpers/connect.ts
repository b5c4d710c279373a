import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import * as jwt from 'atlassian-jwt';

/** A stand-in for Atlassian's install-key server: serves one RSA public key at /<kid>. */
export interface KeyServer {
  url: string;
  kid: string;
  privateKey: string;
  /** The PEM it serves at /<kid>. */
  publicPem: string;
  /** Paths asked for, in order. */
  requested: string[];
  /** When set, answers every request instead of the key (a misbehaving key server). */
  answer: http.RequestListener | null;
  close(): Promise<void>;
}

export async function startKeyServer(): Promise<KeyServer> {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = randomUUID();
  const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const requested: string[] = [];
  const keys = { answer: null as http.RequestListener | null };
  const server = http.createServer((req, res) => {
    requested.push(req.url ?? '');
    if (keys.answer) {
      keys.answer(req, res);
    } else if (req.url === `/${kid}`) {
      res.writeHead(200, { 'content-type': 'application/x-pem-file' }).end(publicPem);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(keys, {
    url: `http://127.0.0.1:${port}`,
    kid,
    publicPem,
    requested,
    privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}

/** An RS256 lifecycle token as Atlassian signs /installed and /uninstalled. */
export function signLifecycle(options: {
  privateKey: string;
  kid: string;
  clientKey: string;
  audience: string;
  path: '/installed' | '/uninstalled';
  expiresInSeconds?: number;
}): string {
  const now = Math.floor(Date.now() / 1000);
  return jwt.encodeAsymmetric(
    {
      iss: options.clientKey,
      aud: [options.audience],
      iat: now - 5,
      exp: now + (options.expiresInSeconds ?? 180),
      qsh: jwt.createQueryStringHash(jwt.fromMethodAndUrl('POST', options.path)),
      sub: 'atlassian-lifecycle',
    },
    options.privateKey,
    jwt.AsymmetricAlgorithm.RS256,
    { kid: options.kid, alg: 'RS256', typ: 'JWT' } as never,
  );
}

export function installPayload(clientKey: string, sharedSecret: string, baseUrl = 'https://acme.atlassian.net') {
  return {
    key: 'user-group-sync-for-atlassian',
    clientKey,
    sharedSecret,
    baseUrl,
    displayUrl: baseUrl,
    productType: 'jira',
    description: 'Atlassian JIRA at ' + baseUrl,
    eventType: 'installed',
    serverVersion: '100000',
    pluginsVersion: '1001.0.0',
  };
}
