import { ConfigError, loadConfig } from './load-config';
import type { SiloConfig } from './silo-config';

/**
 * For process entry points: the validated configuration, or one message on stderr naming every
 * bad variable and exit code 1. Runs before any logger exists, hence plain stderr.
 */
export function loadConfigOrExit(processName: string): SiloConfig {
  try {
    return loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${processName}: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
}
