import { loadConfig } from '@silo/config';
import { assertValidRouterOptions } from '../../libs/tenant-router/src/tenant-router.options';
import { tenantRouterOptionsFromConfig } from '../support/tenant-router-options';

const ENV = {
  DATABASE_URL: 'postgres://unused@127.0.0.1/unused',
  REDIS_URL: 'redis://127.0.0.1:6379',
  AWS_REGION: 'us-east-1',
  ALARM_ACTIONS: 'none',
};
const optionsWith = (env: Record<string, string>) =>
  tenantRouterOptionsFromConfig(loadConfig({ envFile: false, env: { ...ENV, ...env } }), []);

describe('tenantRouterOptionsFromConfig', () => {
  it('sizes a pool host’s DataSource from ROUTER_POOL_SIZE_PER_HOST, and leaves the router’s default when it is unset', () => {
    const set = optionsWith({ ROUTER_POOL_SIZE_PER_HOST: '25' });
    expect(set.poolSizePerHost).toBe(25);
    expect(() => assertValidRouterOptions(set)).not.toThrow();
    expect(optionsWith({}).poolSizePerHost).toBeUndefined();
  });

  it('takes the per-tier pool sizes and the budget as configured', () => {
    const options = optionsWith({ ROUTER_CONNECTION_BUDGET: '40', ROUTER_POOL_SIZE_PRO: '6' });
    expect(options).toMatchObject({
      connectionBudget: 40,
      poolSizeByTier: { starter: 2, pro: 6, enterprise: 10 },
    });
  });
});
