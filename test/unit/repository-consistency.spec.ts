import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { environmentSchema } from '../../libs/config/src';

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
});
