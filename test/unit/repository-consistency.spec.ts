import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseEnv } from 'node:util';
import { environmentSchema, loadConfig } from '../../libs/config/src';

const root = resolve(__dirname, '../..');
const read = (path: string) => readFileSync(resolve(root, path), 'utf8');

describe('repository consistency', () => {
  it('pins the same moto version for the local script and docker-compose', () => {
    const pinned = /^MOTO_VERSION="([^"]+)"$/m.exec(read('scripts/aws-emulator.sh'))?.[1];
    expect(pinned).toMatch(/^\d+\.\d+\.\d+$/);
    expect(read('docker-compose.yml')).toContain(`image: motoserver/moto:${pinned}`);
  });

  it('has CI run exactly the test command the README gives', () => {
    const readmeCommand = /^The test command: `([^`]+)`/m.exec(read('README.md'))?.[1];
    expect(readmeCommand).toBe('npm test');
    const ciCommands = read('.ci/run')
      .split('\n')
      .filter((line) => line.trim() && !line.startsWith('#') && !/^(set|cd) /.test(line));
    expect(ciCommands).toEqual([readmeCommand]);
  });

  it('gives the compose services only variables the configuration knows', () => {
    const block =
      /x-silo-environment: &silo-environment\n((?: {2}.*\n)+)/.exec(read('docker-compose.yml'))?.[1] ?? '';
    const variables = [...block.matchAll(/^ {2}([A-Z_]+):/gm)].map((m) => m[1]);
    expect(variables.length).toBeGreaterThan(5);
    const known = Object.keys(environmentSchema.shape);
    expect(variables.filter((v) => !known.includes(v))).toEqual([]);
  });

  describe('the compose environment', () => {
    const compose = read('docker-compose.yml');
    const block = /x-silo-environment: &silo-environment\n((?: {2}.*\n)+)/.exec(compose)?.[1] ?? '';
    const postgresPassword = /^ {6}POSTGRES_PASSWORD: (\S+)$/m.exec(compose)?.[1];
    // What `npm run dev` copies to .env, which Compose reads for ${…}.
    const devDotEnv = parseEnv(read('.env.example')) as Record<string, string>;

    /** The block as Compose fills it in from `vars` (${V}, ${V:-d}, ${V-d}, ${V:?e}, ${V?e}). */
    function interpolate(vars: Record<string, string>): Record<string, string> {
      const env: Record<string, string> = {};
      for (const [, name, raw] of block.matchAll(/^ {2}([A-Z_]+): (.*)$/gm)) {
        env[name] = raw
          .replace(/^'(.*)'$/, '$1')
          .replace(
            /\$\{([A-Z_]+)(?:(:?)([-?])([^}]*))?\}/g,
            (_, v: string, colon: string, op: string, arg: string) => {
              const value = vars[v];
              const unset = value === undefined || (colon === ':' && value === '');
              if (op === '?' && unset) throw new Error(`compose would refuse to start: ${v} ${arg}`);
              return op === '-' && unset ? arg : (value ?? '');
            },
          );
      }
      return env;
    }

    it.each([
      ['nothing in the shell and no .env', {}],
      ['the .env that `npm run dev` writes', devDotEnv],
    ])('gives the API and worker what they need to start, with %s', (_case, vars) => {
      const config = loadConfig({ env: interpolate(vars), envFile: false });
      expect(config.auth.jwtSecret ?? config.auth.jwksUrl).toBeDefined();
      // moto starts no database servers: tenant instances live on the compose PostgreSQL, reached
      // by its service name (127.0.0.1 inside a container is the container) with its password.
      const admin = new URL(config.tenants.localInstanceAdminUrl ?? 'missing:');
      expect({ host: admin.hostname, password: admin.password }).toEqual({
        host: 'postgres',
        password: postgresPassword,
      });
    });

    it('is what every Silo service runs with', () => {
      for (const service of ['migrate', 'api', 'worker', 'example-app']) {
        const body = new RegExp(`^ {2}${service}:\\n((?: {4}.*\\n|\\n)+)`, 'm').exec(compose)?.[1] ?? '';
        expect({
          service,
          uses: /^ {4}environment: \*silo-environment$|^ {6}<<: \*silo-environment$/m.test(body),
        }).toEqual({
          service,
          uses: true,
        });
      }
    });
  });
});
