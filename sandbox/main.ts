import { parseArgs } from 'node:util';
import { ConfigError } from '../src/config';
import { DataDirLockedError } from '../src/db/database';
import { BITBUCKET_WORKSPACE, MINIORANGE_CREDENTIALS, startSandbox, type Sandbox } from './sandbox';

/** `npm run sandbox [-- --reset]`: starts the sandbox, prints what to open and how to push users, stops on Ctrl-C. */

const HELP = `Usage: npm run sandbox [-- --reset]

Starts the app (embedded database in ./data/sandbox, the /dev stand-in Jira) with fake Jira Cloud,
Confluence Cloud, Bitbucket Cloud, Atlassian organization and miniOrange servers on 127.0.0.1.

  --reset   empty the sandbox's database first (the fakes always start empty)
  --help    this text

Environment: PORT (default 3000), LOG_LEVEL (default warn).`;

function describe(sandbox: Sandbox): string {
  const { fakes, connection } = sandbox;
  const made = (created: boolean) => (created ? 'created' : 'found, pointed at this run');
  const lines = [
    '',
    'Sandbox running. Everything listens on 127.0.0.1 only.',
    '',
    `  Open ${sandbox.devUrl} to try the admin pages (a stand-in for Jira's admin area).`,
    '',
    'Fakes (in memory, empty again after a restart):',
    `  Jira Cloud              ${fakes.jira.baseUrl}`,
    `  Confluence Cloud        ${fakes.confluence.baseUrl}`,
    `  Bitbucket Cloud         ${fakes.bitbucket.baseUrl}   (workspace "${BITBUCKET_WORKSPACE}")`,
    `  Atlassian organization  ${fakes.org.baseUrl}`,
    `  miniOrange              ${fakes.miniOrange.baseUrl}   (${fakes.directory.userTotal()} people, ${fakes.directory.groupTotal()} groups)`,
    `  miniOrange pull credentials for an app of your own: Base URL ${fakes.miniOrange.baseUrl}`,
    `    Customer key ${MINIORANGE_CREDENTIALS.customerKey}, API key ${MINIORANGE_CREDENTIALS.apiKey}`,
    '',
    'Targets of the local tenant (Targets page):',
    ...sandbox.targets.map(({ target, created, check }) => `  ${target.name.padEnd(34)} ${made(created)}; ${check.ok ? 'connection OK' : `connection FAILED: ${check.message}`}`),
    '',
    `IdP app "${connection.name}" (${made(sandbox.connectionCreated)}; pulls from the fake miniOrange on Synchronize).`,
    'Its SCIM endpoint, to push users and groups as an IdP would (paste into your shell):',
    '',
    `  export SCIM=${connection.scimBaseUrl}`,
    `  export TOKEN=${sandbox.scimToken}`,
    '',
    '  curl -s "$SCIM/Users" -H "Authorization: Bearer $TOKEN"',
    '',
    ...(sandbox.connectionCreated
      ? []
      : ['The database remembers earlier syncs, but the fakes started empty: `npm run sandbox -- --reset` starts clean.', '']),
    'README.md, "Try it", walks on from here. Press Ctrl-C to stop everything.',
    '',
  ];
  return lines.join('\n');
}

async function main(): Promise<void> {
  let args;
  try {
    args = parseArgs({ options: { reset: { type: 'boolean', default: false }, help: { type: 'boolean', default: false } } }).values;
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${HELP}\n`);
    process.exit(64);
  }
  if (args.help) {
    process.stdout.write(`${HELP}\n`);
    return;
  }

  let sandbox: Sandbox;
  try {
    sandbox = await startSandbox({ reset: args.reset });
  } catch (error) {
    if (error instanceof ConfigError || error instanceof DataDirLockedError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(78);
    }
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      process.stderr.write(`Port ${process.env.PORT ?? 3000} is in use (is the app already running?). Stop it or start the sandbox with PORT=3001 npm run sandbox.\n`);
      process.exit(75);
    }
    throw error;
  }
  process.stdout.write(describe(sandbox));

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`\n${signal}: stopping the app and the fakes…\n`);
    sandbox.stop().then(
      () => {
        process.stdout.write('Stopped.\n');
        process.exit(0);
      },
      (error) => {
        process.stderr.write(`Stopping failed: ${error instanceof Error ? error.message : String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((error) => {
  process.stderr.write(`Fatal: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  process.exit(1);
});
