import { parseArgs } from 'node:util';
import { z } from 'zod';
import { ConfigError, loadConfig, type Config } from '../config';
import { openDatabase, type Database } from '../db/database';
import { migrate } from '../db/migrate';
import { TenantStore } from '../connect/tenants';
import { secretBoxFor } from '../runtime';
import type { SecretBox } from '../security/crypto';
import { resealAll } from '../security/reseal';
import { connectionCommands } from '../connections/cli';

/**
 * Operator commands: `npm run cli -- <command> [options]`. Output is JSON on stdout (one document per
 * command) so scripts can read it; errors go to stderr with a non-zero exit code.
 */

export interface CliContext {
  config: Config;
  db: Database;
  secrets: SecretBox;
  out: (value: unknown) => void;
}

export class UsageError extends Error {}

type Command = {
  summary: string;
  options?: Record<string, { type: 'string' | 'boolean'; description: string }>;
  run: (ctx: CliContext, values: Record<string, string | boolean | undefined>) => Promise<void>;
};

const commands: Record<string, Command> = {
  migrate: {
    summary: 'Apply pending database migrations',
    async run(ctx) {
      ctx.out({ applied: await migrate(ctx.db) });
    },
  },
  'tenants list': {
    summary: 'List installed tenants (Jira sites) and local tenants',
    async run(ctx) {
      await migrate(ctx.db);
      const tenants = await new TenantStore(ctx.db, ctx.secrets).list();
      ctx.out(tenants);
    },
  },
  'tenants create-local': {
    summary: 'Register a tenant for local development and tests, without a Jira site',
    options: {
      'client-key': { type: 'string', description: 'Connect clientKey to use (required)' },
      'base-url': { type: 'string', description: 'The Jira site URL this tenant stands for (required)' },
    },
    async run(ctx, values) {
      const input = z
        .object({ 'client-key': z.string().min(1).max(255), 'base-url': z.url() })
        .safeParse(values);
      if (!input.success) {
        throw new UsageError(input.error.issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('\n'));
      }
      await migrate(ctx.db);
      const { tenant, sharedSecret } = await new TenantStore(ctx.db, ctx.secrets).createLocal({
        clientKey: input.data['client-key'],
        baseUrl: input.data['base-url'],
      });
      ctx.out({ id: tenant.id, clientKey: tenant.clientKey, baseUrl: tenant.baseUrl, sharedSecret });
    },
  },
  'secrets re-encrypt': {
    summary: 'Re-seal stored secrets with the first key of ENCRYPTION_KEYS (after adding a new key)',
    async run(ctx) {
      await migrate(ctx.db);
      ctx.out({ resealed: await resealAll(ctx.db, ctx.secrets) });
    },
  },
};

/** Other capabilities add their commands here (connections, sync, …) without touching the dispatcher. */
export function registerCommand(name: string, command: Command): void {
  commands[name] = command;
}

for (const [name, command] of Object.entries(connectionCommands((message) => new UsageError(message)))) registerCommand(name, command);

function usage(): string {
  const lines = ['Usage: npm run cli -- <command> [options]', '', 'Commands:'];
  for (const [name, command] of Object.entries(commands)) {
    lines.push(`  ${name.padEnd(24)} ${command.summary}`);
    for (const [option, spec] of Object.entries(command.options ?? {})) {
      lines.push(`      --${option.padEnd(18)} ${spec.description}`);
    }
  }
  return lines.join('\n');
}

function findCommand(argv: string[]): { name: string; rest: string[] } | undefined {
  for (const words of [2, 1]) {
    const name = argv.slice(0, words).join(' ');
    if (commands[name]) return { name, rest: argv.slice(words) };
  }
  return undefined;
}

export async function runCli(argv: string[], env: NodeJS.ProcessEnv = process.env, out = (value: unknown) => {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}): Promise<number> {
  const found = findCommand(argv);
  if (!found) {
    process.stderr.write(`${argv.length ? `Unknown command: ${argv.join(' ')}\n\n` : ''}${usage()}\n`);
    return argv.length ? 64 : 0;
  }
  const command = commands[found.name]!;
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ args: found.rest, options: command.options ?? {}, strict: true, allowPositionals: false }).values;
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${usage()}\n`);
    return 64;
  }

  let config: Config;
  try {
    config = loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      return 78;
    }
    throw error;
  }
  const db = await openDatabase(config.database);
  try {
    await command.run({ config, db, secrets: secretBoxFor(config), out }, values);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`${error.message}\n`);
      return 64;
    }
    process.stderr.write(`${(error as Error).message}\n`);
    return 1;
  } finally {
    await db.close();
  }
}

if (require.main === module) {
  runCli(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error) => {
      process.stderr.write(`${(error as Error).stack ?? error}\n`);
      process.exit(1);
    },
  );
}
