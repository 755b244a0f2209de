import { loadConfigOrExit } from '@silo/config';
import { mintDevToken } from '../dev-token';
import { ROLES, type Role } from '../principal';

const USAGE = `usage: npm run --silent token -- --role <${ROLES.join('|')}> [--role …] [--sub <sub>] [--ttl <seconds>]
       npm run --silent token -- --tenant <slug> [--sub <sub>] [--ttl <seconds>]
Prints a development JWT signed with AUTH_JWT_SECRET, and nothing else.`;

function fail(message: string, code = 2): never {
  process.stderr.write(`token: ${message}\n${USAGE}\n`);
  process.exit(code);
}

async function main(argv: string[]): Promise<void> {
  const roles: Role[] = [];
  let tenantId: string | undefined;
  let sub: string | undefined;
  let ttlSeconds = 3600;
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) fail(`${flag} needs a value`);
    if (flag === '--role') {
      if (!(ROLES as readonly string[]).includes(value)) fail(`unknown role ${JSON.stringify(value)}`);
      roles.push(value as Role);
    } else if (flag === '--tenant') tenantId = value;
    else if (flag === '--sub') sub = value;
    else if (flag === '--ttl') {
      ttlSeconds = Number(value);
      if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1) fail('--ttl takes a whole number of seconds');
    } else fail(`unknown argument ${JSON.stringify(flag)}`);
  }
  if (!roles.length && !tenantId) fail('give at least one --role, or --tenant');
  if (roles.length && tenantId)
    fail('a token is either an operator token (--role) or a tenant token (--tenant)');
  const config = loadConfigOrExit('token');
  if (!config.auth.jwtSecret) fail('AUTH_JWT_SECRET is not set: development tokens are signed with it', 1);
  const token = await mintDevToken({
    secret: config.auth.jwtSecret,
    sub: sub ?? (tenantId ? `tenant-app:${tenantId}` : `dev-${roles.join('-')}`),
    roles: roles.length ? roles : undefined,
    tenantId,
    issuer: config.auth.issuer,
    audience: config.auth.audience,
    ttlSeconds,
  });
  process.stdout.write(`${token}\n`);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`token: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
