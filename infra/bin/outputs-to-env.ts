import { readFileSync } from 'node:fs';
import { envLinesFromOutputs, outputsOfStack } from '../lib/config-outputs';

// npm run --silent infra:env -- <outputs.json> [stack name]
// <outputs.json>: what `cdk deploy --outputs-file` or `aws cloudformation describe-stacks` writes.
const [file, stackName] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: npm run --silent infra:env -- <outputs.json> [stack name]\n');
  process.exit(2);
}
try {
  const outputs = outputsOfStack(JSON.parse(readFileSync(file, 'utf8')), stackName);
  process.stdout.write(`${envLinesFromOutputs(outputs).join('\n')}\n`);
} catch (error) {
  process.stderr.write(`infra:env: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
