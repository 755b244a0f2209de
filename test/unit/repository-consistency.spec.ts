import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
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

  it('gives the compose services, with nothing set in the shell, what the API and worker need to start', () => {
    const block =
      /x-silo-environment: &silo-environment\n((?: {2}.*\n)+)/.exec(read('docker-compose.yml'))?.[1] ?? '';
    // Compose's ${VAR:-default} and ${VAR-default}, with VAR unset, give the default.
    const env: Record<string, string> = {};
    for (const [, name, value] of block.matchAll(/^ {2}([A-Z_]+): (.*)$/gm)) {
      env[name] = value
        .replace(/^'(.*)'$/, '$1')
        .replace(/\$\{[A-Z_]+:?-([^}]*)\}/g, '$1')
        .replace(/\$\{[A-Z_]+\}/g, '');
    }
    const config = loadConfig({ env, envFile: false });
    expect(config.auth.jwtSecret ?? config.auth.jwksUrl).toBeDefined();
    // moto starts no database servers; without the local backend no tenant could become ACTIVE.
    expect(config.tenants.localInstanceAdminUrl).toMatch(/@postgres:5432\//);
  });
});
