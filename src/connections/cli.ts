import { z } from 'zod';
import type { CliContext } from '../cli';
import { migrate } from '../db/migrate';
import { ConnectionError, ConnectionService, PROVIDERS } from './service';

/**
 * `npm run cli -- connections …`: the operator's way to create an IdP connection and hand its SCIM
 * base URL and token to the IdP admin. Tokens are printed once and never again.
 */

interface CommandSpec {
  summary: string;
  options?: Record<string, { type: 'string' | 'boolean'; description: string }>;
  run: (ctx: CliContext, values: Record<string, string | boolean | undefined>) => Promise<void>;
}

export function connectionCommands(usageError: (message: string) => Error): Record<string, CommandSpec> {
  const parse = <T extends z.ZodType>(schema: T, values: unknown): z.infer<T> => {
    const result = schema.safeParse(values);
    if (!result.success) throw usageError(result.error.issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('\n'));
    return result.data;
  };
  const service = async (ctx: CliContext) => {
    await migrate(ctx.db);
    return new ConnectionService(ctx.db, { baseUrl: ctx.config.baseUrl, tokenGraceSeconds: ctx.config.scim.tokenGraceSeconds });
  };
  // A missing connection or a taken name is the operator's input, not a crash.
  const asUsage = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      if (error instanceof ConnectionError) throw usageError(error.message);
      throw error;
    }
  };
  const id = { id: { type: 'string' as const, description: 'Connection id (required)' } };

  return {
    'connections create': {
      summary: 'Create an IdP connection; prints its id, SCIM base URL and bearer token (shown once)',
      options: {
        tenant: { type: 'string', description: 'Connect clientKey of the tenant (required)' },
        name: { type: 'string', description: 'Display name, unique per tenant (required)' },
        provider: { type: 'string', description: `Provider preset: ${PROVIDERS.join(', ')} (required)` },
      },
      async run(ctx, values) {
        const input = parse(z.object({ tenant: z.string().min(1), name: z.string().min(1).max(200), provider: z.enum(PROVIDERS) }), values);
        const connections = await service(ctx);
        const { connection, token } = await asUsage(() => connections.create({ tenantClientKey: input.tenant, name: input.name, provider: input.provider }));
        ctx.out({ id: connection.id, scimBaseUrl: connection.scimBaseUrl, token });
      },
    },
    'connections list': {
      summary: 'List IdP connections (of one tenant with --tenant) with their SCIM base URLs and token state',
      options: { tenant: { type: 'string', description: 'Connect clientKey to list only one tenant' } },
      async run(ctx, values) {
        const input = parse(z.object({ tenant: z.string().min(1).optional() }), values);
        const connections = await service(ctx);
        const list = await connections.list({ tenantClientKey: input.tenant });
        ctx.out(
          await Promise.all(
            list.map(async (c) => {
              const tokens = await connections.listTokens(c.id);
              return {
                id: c.id,
                tenant: c.tenantClientKey,
                name: c.name,
                provider: c.provider,
                scimBaseUrl: c.scimBaseUrl,
                createdAt: c.createdAt,
                tokens: tokens.map((t) => ({ id: t.id, active: t.active, createdAt: t.createdAt, expiresAt: t.expiresAt, revokedAt: t.revokedAt, lastUsedAt: t.lastUsedAt })),
              };
            }),
          ),
        );
      },
    },
    'connections rotate-token': {
      summary: 'Issue a new bearer token; the old ones keep working for the grace period (SCIM_TOKEN_GRACE_SECONDS)',
      options: { ...id, 'grace-seconds': { type: 'string', description: 'Override the grace period (0 = end the old tokens now)' } },
      async run(ctx, values) {
        const input = parse(z.object({ id: z.string().min(1), 'grace-seconds': z.coerce.number().int().min(0).optional() }), values);
        const connections = await service(ctx);
        const rotated = await asUsage(() => connections.rotateToken(input.id, { graceSeconds: input['grace-seconds'] }));
        ctx.out({ id: input.id, token: rotated.token, previousTokensExpireAt: rotated.previousTokensExpireAt });
      },
    },
    'connections revoke-tokens': {
      summary: 'Revoke every bearer token of a connection at once (rotate-token issues a new one)',
      options: id,
      async run(ctx, values) {
        const input = parse(z.object({ id: z.string().min(1) }), values);
        const connections = await service(ctx);
        ctx.out({ id: input.id, revoked: await asUsage(() => connections.revokeTokens(input.id)) });
      },
    },
    'connections rename': {
      summary: 'Rename a connection',
      options: { ...id, name: { type: 'string', description: 'New name (required)' } },
      async run(ctx, values) {
        const input = parse(z.object({ id: z.string().min(1), name: z.string().min(1).max(200) }), values);
        const connections = await service(ctx);
        const renamed = await asUsage(() => connections.rename(input.id, input.name));
        ctx.out({ id: renamed.id, name: renamed.name });
      },
    },
    'connections delete': {
      summary: 'Delete a connection with its tokens and its whole directory',
      options: id,
      async run(ctx, values) {
        const input = parse(z.object({ id: z.string().min(1) }), values);
        const connections = await service(ctx);
        if (!(await connections.delete(input.id))) throw usageError(`connection ${input.id} not found`);
        ctx.out({ id: input.id, deleted: true });
      },
    },
  };
}
