import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * Paths pino replaces with "[redacted]". Request logging never serialises bodies, but errors and
 * ad-hoc context objects can carry credentials, so the usual suspects are redacted wherever they sit.
 */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'headers.authorization',
  'authorization',
  'password',
  'token',
  'apiToken',
  'apiKey',
  'sharedSecret',
  'secret',
  'clientSecret',
  'credentials',
  '*.password',
  '*.token',
  '*.apiToken',
  '*.apiKey',
  '*.sharedSecret',
  '*.secret',
  '*.clientSecret',
  '*.credentials',
  '*.authorization',
];

export function createLogger(options: { level: string; destination?: pino.DestinationStream }): Logger {
  return pino(
    {
      level: options.level,
      base: { service: 'user-group-sync' },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination,
  );
}

/** Query parameters that carry credentials (the Connect context JWT travels as ?jwt=). */
const SECRET_QUERY_PARAMS = /([?&](?:jwt|token|access_token|api_key|apikey|signature)=)[^&#]*/gi;

/** A URL fit for logs: credentials in the query string replaced. */
export function redactUrl(url: string): string {
  return url.replace(SECRET_QUERY_PARAMS, '$1[redacted]');
}

/** Strings that must never reach a log line even when a library formats them into a message. */
const SECRET_IN_TEXT = /(sharedSecret|password|apiToken|api_token|clientSecret)(['"]?\s*[:=]\s*['"]?)[^'",\s}]+/gi;

export function redactText(text: string): string {
  return redactUrl(text).replace(SECRET_IN_TEXT, '$1$2[redacted]');
}
