import { existsSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { App } from 'aws-cdk-lib';
import { addSiloStacks } from '../lib/silo-app';
import { CONTEXT_KEYS, REGIONAL_CONTEXT_KEYS, regionalContextKey } from '../lib/stack-context';

// `npm run infra:synth [-- -c key=value …]` runs this file directly; the CDK CLI runs it through
// infra/cdk.json and then passes context and the output directory itself (CDK_OUTDIR).
const underCdkCli = Boolean(process.env.CDK_OUTDIR);

function infraDirectory(): string {
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, 'infra', 'cdk.json'))) return join(dir, 'infra');
  }
  throw new Error('infra/cdk.json not found above ' + __dirname);
}

function contextFromArguments(args: readonly string[]): Record<string, string> {
  const context: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    if (args[i] !== '-c' && args[i] !== '--context') throw new Error(`unknown argument ${args[i]}`);
    const pair = args[++i] ?? '';
    const at = pair.indexOf('=');
    if (at < 1) throw new Error(`expected -c key=value, got ${JSON.stringify(pair)}`);
    const key = pair.slice(0, at);
    if (!CONTEXT_KEYS.includes(key) && !regionalContextKey(key) && !key.startsWith('@aws-cdk/')) {
      throw new Error(
        `unknown context key ${key}; known: ${CONTEXT_KEYS.join(', ')}, and <region>:${REGIONAL_CONTEXT_KEYS.join('|')} for another region`,
      );
    }
    context[key] = pair.slice(at + 1);
  }
  return context;
}

function main(): void {
  const infraDir = underCdkCli ? undefined : infraDirectory();
  if (infraDir) rmSync(join(infraDir, 'cdk.out'), { recursive: true, force: true });
  const app = infraDir
    ? new App({
        outdir: join(infraDir, 'cdk.out'),
        context: {
          ...(JSON.parse(readFileSync(join(infraDir, 'cdk.json'), 'utf8')) as { context?: object }).context,
          ...contextFromArguments(process.argv.slice(2)),
        },
      })
    : new App();

  addSiloStacks(app);
  const assembly = app.synth();

  if (infraDir) {
    for (const stack of assembly.stacks) {
      process.stdout.write(`${stack.stackName}: ${relative(process.cwd(), stack.templateFullPath)}\n`);
    }
  }
}

try {
  main();
} catch (error) {
  // A bad context value or outputs file: its message names the key; a stack trace adds nothing.
  process.stderr.write(`silo-infra: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}
