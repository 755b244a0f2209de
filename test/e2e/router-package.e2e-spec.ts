import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { builtInTierProfilesFile } from '../support/built-in-tier-profiles';
import { DevStack } from '../support/dev-stack';
import { eventually } from '../support/eventually';
import { freePort } from '../support/free-port';
import { removeTenantInstancesUnder } from '../support/local-tenant-instance';
import { REPO_ROOT, SiloProcess } from '../support/silo-process';
import { uniqueToken } from '../support/test-config';

jest.setTimeout(600_000);

/** The version of `name` this repository installed, so the outside app's install comes from npm's cache. */
function installedVersion(name: string): string {
  return (
    JSON.parse(readFileSync(resolve(REPO_ROOT, 'node_modules', name, 'package.json'), 'utf8')) as {
      version: string;
    }
  ).version;
}

/** `npm run package:router`: the package built and packed, as it would be published. */
function packRouter(destination: string): string {
  execFileSync('npm', ['run', '--silent', 'package:router', '--', destination], {
    cwd: REPO_ROOT,
    stdio: 'pipe',
  });
  const tarballs = readdirSync(destination).filter((f) => /^silo-tenant-router-.*\.tgz$/.test(f));
  expect(tarballs).toHaveLength(1);
  return join(destination, tarballs[0]);
}

// An application team's view: the router as a tarball, installed with its peers from the registry
// into an application outside this repository, type-checked against the package's declarations
// and serving two tenants of the dev stack, configured by the data plane's variables alone.
describe('@silo/tenant-router installed in an application outside the repository', () => {
  const work = mkdtempSync(join(tmpdir(), 'silo-outside-app-'));
  const prefix = `op${uniqueToken(3)}`;
  let stack: DevStack | undefined;
  let app: SiloProcess | undefined;

  afterAll(async () => {
    app?.kill();
    await stack?.cleanUp();
    await removeTenantInstancesUnder(prefix);
    rmSync(work, { recursive: true, force: true });
  });

  it('packs, installs, type-checks and serves notes for a pooled and a schema tenant, with no control-plane database URL', async () => {
    // The app: its own source and package.json, nothing of Silo's but the tarball.
    const appDir = join(work, 'app');
    cpSync(resolve(REPO_ROOT, 'test/fixtures/outside-app'), appDir, { recursive: true });
    const tarball = packRouter(join(work, 'pack'));
    const peers = [
      '@nestjs/common',
      '@nestjs/core',
      '@nestjs/platform-express',
      'reflect-metadata',
      'rxjs',
      'typeorm',
      'pg',
    ];
    const devPeers = ['typescript', '@types/node', '@types/express', 'ioredis'];
    writeFileSync(
      join(appDir, 'package.json'),
      JSON.stringify(
        {
          name: 'outside-app',
          private: true,
          dependencies: {
            '@silo/tenant-router': `file:${tarball}`,
            ...Object.fromEntries(peers.map((p) => [p, installedVersion(p)])),
          },
          devDependencies: Object.fromEntries(devPeers.map((p) => [p, installedVersion(p)])),
        },
        null,
        2,
      ),
    );
    const npmEnv = {
      ...process.env,
      npm_config_audit: 'false',
      npm_config_fund: 'false',
      npm_config_update_notifier: 'false',
    };
    execFileSync('npm', ['install', '--prefer-offline', '--no-package-lock'], {
      cwd: appDir,
      env: npmEnv,
      stdio: 'pipe',
    });
    // Nothing of the monorepo reaches the app: no path alias, no hoisted @silo/* package.
    expect(readdirSync(join(appDir, 'node_modules/@silo'))).toEqual(['tenant-router']);
    execFileSync(process.execPath, [join(appDir, 'node_modules/typescript/bin/tsc'), '-p', appDir], {
      stdio: 'pipe',
    });

    // The dev stack with the built-in tiers: starter tenants are pooled, pro ones get a schema.
    stack = await new DevStack().init();
    const env = { SILO_RESOURCE_PREFIX: prefix, SILO_TIER_PROFILES_FILE: builtInTierProfilesFile() };
    await stack.start([], env);
    const ops = {
      authorization: `Bearer ${await stack.token(['--role', 'ops'])}`,
      'content-type': 'application/json',
    };
    const slugs = { starter: `st-${uniqueToken(2)}`, pro: `pr-${uniqueToken(2)}` };
    for (const [tier, slug] of Object.entries(slugs)) {
      const created = await fetch(`${stack.api}/v1/tenants`, {
        method: 'POST',
        headers: ops,
        body: JSON.stringify({ slug, name: slug, tier }),
      });
      expect(created.status).toBe(202);
    }
    const tenants: Record<string, { id: string; placement: string }> = {};
    for (const [tier, slug] of Object.entries(slugs)) {
      await eventually(async () => {
        const t = (await (await fetch(`${stack!.api}/v1/tenants/${slug}`, { headers: ops })).json()) as {
          id: string;
          status: string;
          placement: string;
        };
        expect(t.status).toBe('ACTIVE');
        tenants[tier] = t;
      }, 120_000);
    }
    expect([tenants.starter.placement, tenants.pro.placement]).toEqual(['pool', 'schema']);

    // The app's whole configuration: where the secrets are, the token issuer, TLS. No DATABASE_URL.
    const [nestPort, plainPort] = [await freePort(), await freePort()];
    const appEnv: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'development',
      NEST_PORT: String(nestPort),
      PLAIN_PORT: String(plainPort),
      SILO_RESOURCE_PREFIX: prefix,
      AWS_REGION: stack.env.AWS_REGION,
      AWS_ENDPOINT_URL: stack.env.AWS_ENDPOINT_URL,
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      TENANT_AUTH_AUDIENCE: stack.env.TENANT_AUTH_AUDIENCE,
      AUTH_AUDIENCE: stack.env.AUTH_AUDIENCE,
      AUTH_ISSUER: stack.env.AUTH_ISSUER,
      AUTH_JWT_SECRET: stack.env.AUTH_JWT_SECRET,
      TENANT_DIRECTORY_SSL: 'disable',
      TENANT_DB_SSL: 'disable',
    };
    expect(Object.values(appEnv).some((v) => v.startsWith('postgres'))).toBe(false);
    app = SiloProcess.spawn(process.execPath, [join(appDir, 'dist/main.js')], appEnv);
    await app.waitFor(() => app!.stdout.includes('outside app: listening'), 'the outside app to listen');

    const nest = `http://127.0.0.1:${nestPort}/notes`;
    const plain = `http://127.0.0.1:${plainPort}/notes`;
    const auth: Record<string, Record<string, string>> = {};
    for (const [tier, slug] of Object.entries(slugs)) {
      auth[tier] = { authorization: `Bearer ${await stack.token(['--tenant', slug])}` };
      const posted = await fetch(nest, {
        method: 'POST',
        headers: { ...auth[tier], 'content-type': 'application/json' },
        body: JSON.stringify({ text: `a note of ${tier}` }),
      });
      expect(posted.status).toBe(201);
    }
    for (const tier of Object.keys(slugs)) {
      for (const url of [nest, plain]) {
        const res = await fetch(url, { headers: auth[tier] });
        expect({ url, status: res.status, body: await res.json() }).toEqual({
          url,
          status: 200,
          body: { tenantId: tenants[tier].id, items: [`a note of ${tier}`] },
        });
      }
    }

    // Refusals, the same through both entry points.
    for (const url of [nest, plain]) {
      const anonymous = await fetch(url);
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers.get('www-authenticate')).toMatch(/^Bearer /);
    }
    const unknown = {
      authorization: `Bearer ${await stack.token(['--tenant', '00000000-0000-4000-8000-000000000000'])}`,
    };
    for (const url of [nest, plain]) expect((await fetch(url, { headers: unknown })).status).toBe(403);

    process.kill(app.pid, 'SIGTERM');
    expect(await app.exitWithin(20_000)).toEqual({ code: 0, signal: null });
  });
});
