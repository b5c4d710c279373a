import { Writable } from 'node:stream';
import express from 'express';
import request from 'supertest';
import { createLogger, redactText, redactUrl } from '../../src/logging/logger';
import { httpLogger } from '../../src/logging/http';

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { lines, logger: createLogger({ level: 'info', destination }) };
}

describe('logging', () => {
  it('redacts credentials in structured fields', () => {
    const { lines, logger } = capture();
    logger.info({ sharedSecret: 's3cr3t', target: { apiToken: 'tok-123', baseUrl: 'https://x' }, authorization: 'Bearer abc' }, 'saved');
    const line = lines.join('');
    expect(line).not.toMatch(/s3cr3t|tok-123|Bearer abc/);
    expect(line).toContain('https://x');
    expect(line).toContain('[redacted]');
  });

  it('logs one line per request with an id, without headers, bodies or query secrets', async () => {
    const { lines, logger } = capture();
    const app = express();
    app.use(httpLogger(logger));
    app.use(express.json());
    app.post('/admin', (_req, res) => {
      res.status(201).end();
    });
    const res = await request(app)
      .post('/admin?jwt=eyJsecret.token&page=2')
      .set('Authorization', 'Bearer top-secret')
      .set('x-request-id', 'req-12345678')
      .send({ password: 'hunter2', userName: 'alice@example.com' })
      .expect(201);
    expect(res.headers['x-request-id']).toBe('req-12345678');
    const line = lines.join('');
    expect(line).toContain('req-12345678');
    expect(line).toContain('"statusCode":201');
    expect(line).toContain('page=2');
    expect(line).not.toMatch(/eyJsecret|top-secret|hunter2|alice@example\.com/);
  });

  it('scrubs secrets that libraries format into message text', () => {
    expect(redactText("Saved tenant { sharedSecret: 'abc123', clientKey: 'k' }")).not.toContain('abc123');
    expect(redactUrl('/x?token=abc&ok=1')).toBe('/x?token=[redacted]&ok=1');
  });
});
