import { readFileSync } from 'node:fs';
import {
  envLinesFromOutputs,
  outputsOfStack,
  regionSettingsFromOutputs,
  regionStacksOfOutputs,
} from '../lib/config-outputs';

// npm run --silent infra:env -- <outputs.json> [stack name]
// npm run --silent infra:env -- <outputs.json> --region-settings   (SILO_REGION_SETTINGS_FILE's JSON)
// <outputs.json>: what `cdk deploy --outputs-file` or `aws cloudformation describe-stacks` writes.
const usage = 'usage: npm run --silent infra:env -- <outputs.json> [stack name | --region-settings]\n';
const [file, stackName] = process.argv.slice(2);
if (!file) {
  process.stderr.write(usage);
  process.exit(2);
}
try {
  const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
  if (stackName === '--region-settings') {
    process.stdout.write(`${JSON.stringify(regionSettingsFromOutputs(parsed), null, 2)}\n`);
  } else {
    const outputs = outputsOfStack(parsed, stackName);
    const others = stackName ? [] : regionStacksOfOutputs(parsed).map((stack) => stack.region);
    const lines = envLinesFromOutputs(outputs);
    if (others.length) {
      lines.push(
        `# other regions' stacks: SILO_REGIONS=${[outputs.AwsRegion, ...others].join(',')}, and SILO_REGION_SETTINGS_FILE from --region-settings`,
      );
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  }
} catch (error) {
  process.stderr.write(`infra:env: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
