import { z } from 'zod';

/**
 * The History API's query parameters (the queries themselves live in src/sync/history.ts, with the engine
 * that writes those tables).
 */

export const RUN_STATUSES = ['running', 'awaiting_confirmation', 'succeeded', 'succeeded_with_warnings', 'partial', 'failed', 'cancelled', 'superseded'] as const;
export const RUN_TRIGGERS = ['manual', 'schedule', 'change', 'confirm'] as const;
export const OP_STATUSES = ['planned', 'running', 'succeeded', 'failed', 'skipped'] as const;

const booleanParam = z.enum(['true', 'false']).transform((value) => value === 'true');
const dateParam = z.iso.date({ message: 'must be a date (YYYY-MM-DD)' });

export const runsQuerySchema = z.object({
  connectionId: z.uuid({ message: 'must be an id' }).optional(),
  status: z.enum(RUN_STATUSES).optional(),
  trigger: z.enum(RUN_TRIGGERS).optional(),
  dryRun: booleanParam.optional(),
  from: dateParam.optional(),
  to: dateParam.optional(),
  limit: z.coerce.number().int().min(1).max(200).default(25),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
});

export const opsQuerySchema = z.object({
  status: z.enum(OP_STATUSES).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  offset: z.coerce.number().int().min(0).max(10_000_000).default(0),
});
