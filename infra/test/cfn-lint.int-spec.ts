import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { addSiloStacks } from '../lib/silo-app';

jest.setTimeout(180_000);

const root = resolve(__dirname, '../..');
const CFN_LINT = join(process.env.SILO_CFN_LINT_VENV ?? join(root, '.cache/cfn-lint-venv'), 'bin/cfn-lint');
const run = promisify(execFile);

/** One cfn-lint match, as `--format json` prints it. */
interface Match {
  Level: 'Error' | 'Warning' | 'Informational';
  Message: string;
  Filename: string;
  Location: { Path: (string | number)[] };
  Rule: { Id: string };
}

/**
 * The warnings cfn-lint gives on Silo's templates that are known and why they stay: each names
 * its rule, the resource and the reason. Anything else fails the test.
 */
const EXPLAINED: { rule: string; resource: RegExp; why: string }[] = [
  {
    rule: 'W3005',
    resource: /^ApiService[0-9A-F]{8}$/,
    why:
      'CDK makes an ECS service behind a load balancer depend on its listener rules explicitly: the ' +
      "target group's Ref orders it after the group, not after the rule that routes to it.",
  },
];

/** Both stacks as `npm run infra:synth` makes them, every optional part of the prerequisites on. */
function templates(dir: string): string[] {
  const prerequisites = new App({
    builtinCloudFormationValidation: false,
    context: {
      prefix: 'silo',
      controlPlaneDatabase: 'true',
      controlPlaneRedis: 'true',
      alarmEmail: 'oncall@example.com',
    },
  });
  const services = new App({
    builtinCloudFormationValidation: false,
    context: {
      image: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/silo/control-plane:1.4.0',
      prerequisitesOutputs: join(__dirname, 'fixtures/silo-prerequisites.outputs.json'),
      vpcId: 'vpc-0123456789abcdef0',
      privateSubnetIds: 'subnet-0aaaaaaaaaaaaaaaa,subnet-0bbbbbbbbbbbbbbbb',
      vpcCidr: '10.20.0.0/16',
      authJwksUrl: 'https://login.example.com/.well-known/jwks.json',
      authIssuer: 'https://login.example.com/',
      authAudience: 'silo-control-plane',
      rdsCaFile: '/etc/ssl/rds/global-bundle.pem',
    },
  });
  const files: string[] = [];
  for (const app of [prerequisites, services])
    for (const stack of addSiloStacks(app)) {
      const file = join(dir, `${stack.stackName}.template.json`);
      writeFileSync(file, JSON.stringify(Template.fromStack(stack).toJSON(), null, 1));
      files.push(file);
    }
  return files;
}

describe("AWS's CloudFormation linter on the synthesized stacks", () => {
  const dir = mkdtempSync(join(tmpdir(), 'silo-cfn-lint-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('finds no error and no warning that is not explained (deprecated engine versions, bad property values, …)', async () => {
    if (!existsSync(CFN_LINT))
      throw new Error(
        `cfn-lint is not installed at ${CFN_LINT}: run bash scripts/cfn-lint.sh install (npm test does)`,
      );
    const files = templates(dir);
    expect(files.map((f) => f.slice(dir.length + 1)).sort()).toEqual([
      'acme-services.template.json',
      'silo-prerequisites.template.json',
    ]);
    // Exit 0 clean, 2 errors, 4 warnings, 8 informational (bits): the JSON says which either way.
    const out = await run(CFN_LINT, ['--format', 'json', ...files], { maxBuffer: 16 * 1024 * 1024 }).catch(
      (error: { stdout?: string; code?: number }) => {
        if (typeof error.stdout === 'string' && error.stdout.trim().startsWith('['))
          return { stdout: error.stdout };
        throw error;
      },
    );
    const matches = JSON.parse(out.stdout) as Match[];
    const unexplained = matches
      .filter((m) => m.Level !== 'Informational')
      .filter(
        (m) =>
          m.Level === 'Error' ||
          !EXPLAINED.some(
            (e) =>
              e.rule === m.Rule.Id &&
              m.Location.Path[0] === 'Resources' &&
              e.resource.test(String(m.Location.Path[1])),
          ),
      )
      .map(
        (m) =>
          `${m.Level} ${m.Rule.Id} ${m.Filename.slice(dir.length + 1)} ${m.Location.Path.join('/')}: ${m.Message}`,
      );
    expect(unexplained).toEqual([]);
  });
});
