import { loadConfig } from '../../libs/config/src';
import { ensureDataPlaneLogin } from '../../libs/control-plane-db/src/data-plane-login';
import { runDatabaseUrl } from './test-services';

/**
 * The data plane's login to the control-plane database of `env` (its secret's name), as
 * `migrate --data-plane-login` makes it. The run's shared database has one data-plane role, and
 * tests with many resource prefixes share it: they all keep its secret under the prefix `silo` in
 * the run's emulator, so that no test sets a password another test's app logs in with.
 */
export async function testDataPlaneLogin(env: Record<string, string>): Promise<string> {
  const shared = env.DATABASE_URL === runDatabaseUrl();
  const config = loadConfig({ env: shared ? { ...env, SILO_RESOURCE_PREFIX: 'silo' } : env, envFile: false });
  return (await ensureDataPlaneLogin(config)).secretName;
}

/**
 * The environment of a tenant application beside the control plane of `env`: the same AWS, prefix
 * and token settings, the data plane's directory login, no TLS to the local servers, and no
 * DATABASE_URL (an application never has the control plane's).
 */
export async function tenantAppEnvironment(env: Record<string, string>): Promise<Record<string, string>> {
  const secret = await testDataPlaneLogin(env);
  const { DATABASE_URL: _controlPlaneOnly, ...rest } = env;
  return {
    ...rest,
    TENANT_DIRECTORY_SECRET: secret,
    TENANT_DIRECTORY_SSL: 'disable',
    TENANT_DB_SSL: 'disable',
  };
}
