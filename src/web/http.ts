import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Logger } from '../logging/logger';
import { ValidationError, fieldsFromProblems } from './validation';

/** An error the API answers with its own status and a stable `error` code. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export const notFound = (what: string) => new ApiError(404, 'not_found', `${what} not found`);

/** An async route handler whose rejections reach the API's error handler. */
export function route(handler: (req: Request, res: Response) => Promise<unknown>): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    handler(req, res).catch(next);
  };
}

/**
 * Maps the errors of the services the API calls to responses. Services throw their own classes; they are
 * matched by name so the API does not depend on each module's error hierarchy.
 */
export function apiErrorHandler(logger: Logger) {
  return (error: unknown, req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(error);
    const named = error as { name?: string; message?: string; problems?: string[]; issues?: string[] };
    if (error instanceof ValidationError) {
      return res.status(400).json({ error: 'validation', message: error.message, fields: error.fields });
    }
    if (error instanceof ApiError) return res.status(error.status).json({ error: error.code, message: error.message });
    switch (named.name) {
      case 'ConnectionNotFoundError':
      case 'TargetNotFoundError':
      case 'RunNotFoundError':
        return res.status(404).json({ error: 'not_found', message: named.message });
      case 'SettingsConflictError':
        return res.status(409).json({ error: 'conflict', message: named.message });
      case 'ScheduleError':
      case 'PullConfigError':
      case 'TargetConfigError':
      case 'SettingsError': {
        // The modules' own messages embed zod's wording; the page gets the reworded fields instead.
        const fields = fieldsFromProblems(named.problems ?? named.issues ?? []);
        return res.status(400).json({ error: 'validation', message: Object.values(fields).join('; ') || 'Some fields are not valid', fields });
      }
      // A target or IdP answered badly (or was refused by the egress rules): the app is fine, the upstream
      // is not, whatever status the upstream itself used (its 401 is not the admin's session expiring).
      case 'TargetError':
      case 'SourceError':
      case 'EgressError':
        logger.warn({ err: error, reqId: (req as { id?: unknown }).id }, 'upstream call failed');
        return res.status(502).json({ error: 'upstream', message: named.message });
    }
    const status = (error as { status?: unknown }).status;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      return res.status(status).json({ error: 'bad_request', message: named.message ?? 'Bad request' });
    }
    logger.error({ err: error, reqId: (req as { id?: unknown }).id }, 'admin API request failed');
    return res.status(500).json({ error: 'internal_error', message: 'Internal error' });
  };
}
