import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TIER_NAMES } from '@silo/core';
import { DEFAULT_TIER_PROFILES } from './default-tier-profiles';
import { loadTierProfiles, parseTierProfiles, TierProfileError } from './load-tier-profiles';

// Tests write deliberately invalid values anywhere in the document.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Editable = Record<string, any>;

/** The defaults as a document (no `tier` keys), deep-copied so each test may edit it. */
function validDocument(): { tiers: Record<string, Editable> } {
  const tiers = Object.fromEntries(
    TIER_NAMES.map((name) => {
      const { tier: _tier, ...profile } = structuredClone(DEFAULT_TIER_PROFILES[name]);
      return [name, profile];
    }),
  );
  return { tiers };
}

function errorOf(run: () => unknown): TierProfileError {
  try {
    run();
  } catch (error) {
    if (error instanceof TierProfileError) return error;
    throw error;
  }
  throw new Error('expected a TierProfileError');
}

function problemPaths(raw: unknown): string[] {
  return errorOf(() => parseTierProfiles(raw)).problems.map((p) => p.path);
}

function withEdit(edit: (tiers: Record<string, Editable>) => void): Editable {
  const document = validDocument();
  edit(document.tiers);
  return document;
}

/** A file written before placements existed: every tier an instance, no placement or capacity. */
function documentBeforePlacements(): { tiers: Record<string, Editable> } {
  const tier = (instanceClass: string, allocatedGiB: number, multiAz: boolean) => ({
    instanceClass,
    engineVersion: '16.4',
    storage: { type: 'gp3', allocatedGiB },
    multiAz,
    deletionProtection: multiAz,
    backupRetentionDays: 7,
    performanceInsights: { enabled: false },
    alarms: {
      cpuHighPercent: 90,
      freeStorageLowPercent: 10,
      connectionsHighPercent: 90,
      freeableMemoryLowPercent: 10,
    },
  });
  return {
    tiers: {
      starter: tier('db.t3.micro', 20, false),
      pro: tier('db.t3.small', 100, false),
      enterprise: tier('db.m6i.large', 500, true),
    },
  };
}

describe('parseTierProfiles', () => {
  it('fills each profile’s tier from its key', () => {
    const profiles = parseTierProfiles(validDocument());
    expect(Object.keys(profiles)).toEqual(['starter', 'pro', 'enterprise']);
    for (const name of TIER_NAMES) expect(profiles[name].tier).toBe(name);
  });

  describe('gp3 storage', () => {
    it.each(['iops', 'throughputMiBps'])('rejects %s below 400 GiB, as AWS does', (field) => {
      const raw = withEdit((t) => {
        t.pro.storage.allocatedGiB = 399;
        t.pro.storage[field] = field === 'iops' ? 12_000 : 500;
      });
      const error = errorOf(() => parseTierProfiles(raw));
      expect(error.problems).toEqual([
        { path: `tiers.pro.storage.${field}`, message: expect.stringContaining('400 GiB') },
      ]);
    });

    it('accepts provisioned IOPS and throughput at their bounds from 400 GiB', () => {
      for (const [iops, throughputMiBps] of [
        [12_000, 500],
        [64_000, 4000],
      ]) {
        const raw = withEdit((t) => {
          t.pro.storage = { type: 'gp3', allocatedGiB: 400, iops, throughputMiBps };
        });
        expect(parseTierProfiles(raw).pro.storage).toEqual({
          type: 'gp3',
          allocatedGiB: 400,
          iops,
          throughputMiBps,
        });
      }
    });

    it.each([
      ['iops', 11_999],
      ['iops', 64_001],
      ['throughputMiBps', 499],
      ['throughputMiBps', 4001],
    ])('rejects %s %d from 400 GiB', (field, value) => {
      const raw = withEdit((t) => {
        t.enterprise.storage[field] = value;
      });
      expect(problemPaths(raw)).toEqual([`tiers.enterprise.storage.${field}`]);
    });

    it.each([19, 65_537, 100.5, '100'])('rejects allocatedGiB %p', (allocatedGiB) => {
      const raw = withEdit((t) => {
        t.starter.storage.allocatedGiB = allocatedGiB;
      });
      expect(problemPaths(raw)).toEqual(['tiers.starter.storage.allocatedGiB']);
    });

    it('accepts allocatedGiB from 20 to 65536', () => {
      for (const allocatedGiB of [20, 65_536]) {
        const raw = withEdit((t) => {
          t.starter.storage.allocatedGiB = allocatedGiB;
        });
        expect(parseTierProfiles(raw).starter.storage.allocatedGiB).toBe(allocatedGiB);
      }
    });

    it('rejects storage types other than gp3', () => {
      const raw = withEdit((t) => {
        t.starter.storage.type = 'gp2';
      });
      expect(problemPaths(raw)).toEqual(['tiers.starter.storage.type']);
    });
  });

  describe('Performance Insights retention', () => {
    it.each([7, 31, 93, 713, 731])('accepts %d days', (retentionDays) => {
      const raw = withEdit((t) => {
        t.pro.performanceInsights = { enabled: true, retentionDays };
      });
      expect(parseTierProfiles(raw).pro.performanceInsights).toEqual({ enabled: true, retentionDays });
    });

    it.each([0, 8, 30, 32, 62.5, 744, 732])('rejects %d days', (retentionDays) => {
      const raw = withEdit((t) => {
        t.pro.performanceInsights = { enabled: true, retentionDays };
      });
      expect(problemPaths(raw)).toEqual(['tiers.pro.performanceInsights.retentionDays']);
    });

    it('requires a retention when enabled and none when disabled', () => {
      const raw = withEdit((t) => {
        t.pro.performanceInsights = { enabled: true };
        t.starter.performanceInsights = { enabled: false, retentionDays: 7 };
      });
      expect(problemPaths(raw)).toEqual([
        'tiers.starter.performanceInsights.retentionDays',
        'tiers.pro.performanceInsights.retentionDays',
      ]);
    });

    it('names enabled when it is not a boolean', () => {
      const raw = withEdit((t) => {
        t.pro.performanceInsights = { enabled: 'yes', retentionDays: 7 };
      });
      expect(errorOf(() => parseTierProfiles(raw)).problems).toEqual([
        { path: 'tiers.pro.performanceInsights.enabled', message: 'must be true or false' },
      ]);
    });
  });

  describe('backupRetentionDays', () => {
    it.each([0, 35])('accepts %d', (days) => {
      const raw = withEdit((t) => {
        t.starter.backupRetentionDays = days;
      });
      expect(parseTierProfiles(raw).starter.backupRetentionDays).toBe(days);
    });

    it.each([-1, 36, 1.5])('rejects %d', (days) => {
      const raw = withEdit((t) => {
        t.starter.backupRetentionDays = days;
      });
      expect(problemPaths(raw)).toEqual(['tiers.starter.backupRetentionDays']);
    });
  });

  describe('instance class', () => {
    it('rejects a class outside the catalogue, naming the known ones', () => {
      const raw = withEdit((t) => {
        t.enterprise.instanceClass = 'db.x2g.16xlarge';
      });
      const [problem, ...rest] = errorOf(() => parseTierProfiles(raw)).problems;
      expect(rest).toEqual([]);
      expect(problem.path).toBe('tiers.enterprise.instanceClass');
      expect(problem.message).toContain('db.x2g.16xlarge');
      expect(problem.message).toContain('db.t3.micro');
      expect(problem.message).toContain('db.r6i.xlarge');
    });

    it.each(['db.t3.micro', 'db.t4g.micro'])('rejects Multi-AZ on %s, naming the class', (name) => {
      const raw = withEdit((t) => {
        t.enterprise.instanceClass = name;
        t.enterprise.multiAz = true;
      });
      const error = errorOf(() => parseTierProfiles(raw));
      expect(error.problems).toEqual([
        { path: 'tiers.enterprise.multiAz', message: expect.stringContaining(name) },
      ]);
    });

    it('accepts Multi-AZ on a class that allows it', () => {
      const raw = withEdit((t) => {
        t.enterprise.instanceClass = 'db.t4g.small';
        t.enterprise.multiAz = true;
      });
      expect(parseTierProfiles(raw).enterprise.multiAz).toBe(true);
    });

    it('rejects Multi-AZ on a micro class for a shared host too', () => {
      const raw = withEdit((t) => {
        t.starter.instanceClass = 'db.t4g.micro';
        t.starter.capacity.connectionBudget = 50;
      });
      expect(errorOf(() => parseTierProfiles(raw)).problems).toEqual([
        { path: 'tiers.starter.multiAz', message: expect.stringContaining('db.t4g.micro') },
      ]);
    });
  });

  describe('engineVersion', () => {
    it.each(['13', '16.4', '17.2'])('accepts %s', (version) => {
      const raw = withEdit((t) => {
        t.pro.engineVersion = version;
      });
      expect(parseTierProfiles(raw).pro.engineVersion).toBe(version);
    });

    it.each(['12.22', '9.6', '16.4.1', 'latest', '', 16])('rejects %p', (version) => {
      const raw = withEdit((t) => {
        t.pro.engineVersion = version;
      });
      expect(problemPaths(raw)).toEqual(['tiers.pro.engineVersion']);
    });
  });

  describe('alarm thresholds', () => {
    const fields = [
      'cpuHighPercent',
      'freeStorageLowPercent',
      'connectionsHighPercent',
      'freeableMemoryLowPercent',
    ];

    it.each(fields)('rejects %s at 0, 100, below 0 and as a string', (field) => {
      for (const value of [0, 100, -5, '50']) {
        const raw = withEdit((t) => {
          t.enterprise.alarms[field] = value;
        });
        expect(problemPaths(raw)).toEqual([`tiers.enterprise.alarms.${field}`]);
      }
    });

    it('accepts fractional percentages strictly between 0 and 100', () => {
      const raw = withEdit((t) => {
        t.enterprise.alarms.cpuHighPercent = 99.5;
        t.enterprise.alarms.freeStorageLowPercent = 0.5;
      });
      expect(parseTierProfiles(raw).enterprise.alarms).toMatchObject({
        cpuHighPercent: 99.5,
        freeStorageLowPercent: 0.5,
      });
    });
  });

  describe('placement and capacity', () => {
    it('reads a profile without placement as an instance profile, so files written before placements load unchanged', () => {
      const profiles = parseTierProfiles(documentBeforePlacements());
      for (const name of TIER_NAMES) {
        expect(profiles[name].placement).toBe('instance');
        expect(profiles[name]).not.toHaveProperty('capacity');
      }
      expect(profiles.starter).toMatchObject({ instanceClass: 'db.t3.micro', storage: { allocatedGiB: 20 } });
    });

    it('accepts each placement, with capacity exactly for the shared ones', () => {
      const raw = withEdit((t) => {
        t.starter.placement = 'schema';
        t.pro.placement = 'pool';
      });
      const profiles = parseTierProfiles(raw);
      expect(profiles.starter).toMatchObject({ placement: 'schema', capacity: { tenantsPerHost: 1000 } });
      expect(profiles.pro).toMatchObject({ placement: 'pool', capacity: { tenantsPerHost: 50 } });
      expect(profiles.enterprise.placement).toBe('instance');
    });

    it('rejects an unknown placement, naming the known ones', () => {
      const raw = withEdit((t) => {
        t.starter.placement = 'shared';
      });
      expect(errorOf(() => parseTierProfiles(raw)).problems).toEqual([
        { path: 'tiers.starter.placement', message: 'must be one of instance, schema, pool' },
      ]);
    });

    it.each(['starter', 'pro'])('requires capacity on the shared %s tier, naming its placement', (tier) => {
      const raw = withEdit((t) => {
        delete t[tier].capacity;
      });
      const placement = tier === 'starter' ? 'pool' : 'schema';
      const error = errorOf(() => parseTierProfiles(raw));
      expect(error.problems).toEqual([
        {
          path: `tiers.${tier}.capacity`,
          message: expect.stringMatching(
            new RegExp(`^is required when placement is ${placement}: .*tenantsPerHost.*connectionBudget`),
          ),
        },
      ]);
      expect(error.message).toContain(
        `\n  - tiers.${tier}.capacity: is required when placement is ${placement}`,
      );
    });

    it('requires capacity when an instance tier becomes shared', () => {
      const raw = withEdit((t) => {
        t.enterprise.placement = 'pool';
      });
      expect(problemPaths(raw)).toEqual(['tiers.enterprise.capacity']);
    });

    it('refuses capacity on an instance tier, with placement written out or left to its default', () => {
      const capacity = { tenantsPerHost: 10, connectionBudget: 100 };
      const explicit = withEdit((t) => {
        t.enterprise.capacity = capacity;
      });
      const implicit = documentBeforePlacements();
      implicit.tiers.pro.capacity = capacity;
      for (const [raw, tier] of [
        [explicit, 'enterprise'],
        [implicit, 'pro'],
      ] as const) {
        expect(errorOf(() => parseTierProfiles(raw)).problems).toEqual([
          {
            path: `tiers.${tier}.capacity`,
            message: expect.stringContaining('is only for shared placements (schema, pool)'),
          },
        ]);
      }
    });

    it.each([
      ['tenantsPerHost', 0],
      ['tenantsPerHost', 2.5],
      ['tenantsPerHost', '100'],
      ['connectionBudget', 0],
      ['connectionBudget', -10],
      ['connectionBudget', 99.5],
    ])('rejects %s %p', (field, value) => {
      const raw = withEdit((t) => {
        t.pro.capacity[field] = value;
      });
      expect(problemPaths(raw)).toEqual([`tiers.pro.capacity.${field}`]);
    });

    it('rejects unknown and missing capacity fields', () => {
      const raw = withEdit((t) => {
        t.starter.capacity.maxTenants = 5;
        delete t.pro.capacity.connectionBudget;
      });
      expect(errorOf(() => parseTierProfiles(raw)).problems).toEqual([
        { path: 'tiers.starter.capacity.maxTenants', message: 'is not a known field' },
        { path: 'tiers.pro.capacity.connectionBudget', message: 'is required' },
      ]);
    });

    it('keeps a fifth of the host class’s max_connections out of the budget, naming the class and the limit', () => {
      // db.t4g.medium: 4 GiB / 9531392 = 450 connections, 360 of them for tenants.
      const at = withEdit((t) => {
        t.starter.capacity.connectionBudget = 360;
      });
      expect(parseTierProfiles(at).starter).toMatchObject({ capacity: { connectionBudget: 360 } });

      const over = withEdit((t) => {
        t.starter.capacity.connectionBudget = 361;
      });
      const [problem, ...rest] = errorOf(() => parseTierProfiles(over)).problems;
      expect(rest).toEqual([]);
      expect(problem.path).toBe('tiers.starter.capacity.connectionBudget');
      expect(problem.message).toMatch(/^must be at most 360 on db\.t4g\.medium: its max_connections is 450/);
    });

    it('checks the budget against the class the host is given', () => {
      const raw = withEdit((t) => {
        t.pro.instanceClass = 'db.r6i.xlarge';
        t.pro.capacity.connectionBudget = 2800;
        t.starter.instanceClass = 'db.t3.small';
      });
      // db.r6i.xlarge: 3604 × 0.8 = 2883; db.t3.small: 225 × 0.8 = 180, below starter's 200.
      expect(errorOf(() => parseTierProfiles(raw)).problems).toEqual([
        {
          path: 'tiers.starter.capacity.connectionBudget',
          message: expect.stringContaining('at most 180 on db.t3.small'),
        },
      ]);
    });

    it('names only the class when the host class is unknown', () => {
      const raw = withEdit((t) => {
        t.pro.instanceClass = 'db.x9.huge';
      });
      expect(problemPaths(raw)).toEqual(['tiers.pro.instanceClass']);
    });
  });

  it('rejects booleans given as strings or numbers', () => {
    const raw = withEdit((t) => {
      t.pro.multiAz = 'false';
      t.pro.deletionProtection = 0;
    });
    expect(problemPaths(raw)).toEqual(['tiers.pro.multiAz', 'tiers.pro.deletionProtection']);
  });

  it('reports several problems across tiers in one error', () => {
    const raw = withEdit((t) => {
      t.starter.storage.iops = 3000;
      t.starter.instanceClass = 'db.t3.micro';
      t.pro.performanceInsights = { enabled: true, retentionDays: 30 };
      t.enterprise.storage.iops = 100;
      t.enterprise.backupRetentionDays = 40;
    });
    const error = errorOf(() => parseTierProfiles(raw));
    expect(error.problems.map((p) => p.path)).toEqual([
      'tiers.starter.storage.iops',
      'tiers.starter.multiAz',
      'tiers.starter.capacity.connectionBudget',
      'tiers.pro.performanceInsights.retentionDays',
      'tiers.enterprise.storage.iops',
      'tiers.enterprise.backupRetentionDays',
    ]);
    expect(error.message).toMatch(/^Invalid tier profiles \(6 problems\):\n/);
    expect(error.message).toContain('\n  - tiers.enterprise.storage.iops: must be 12000..64000 IOPS');
  });

  it('still applies the AWS rules when a sibling field has the wrong type', () => {
    const raw = withEdit((t) => {
      t.starter.capacity.tenantsPerHost = 'many';
      t.starter.capacity.connectionBudget = 400;
      t.pro.storage.iops = 3000;
      t.pro.storage.type = 'gp2';
      t.enterprise.instanceClass = 'db.t3.micro';
      t.enterprise.backupRetentionDays = '7';
    });
    expect(problemPaths(raw)).toEqual([
      'tiers.starter.capacity.tenantsPerHost',
      'tiers.starter.capacity.connectionBudget',
      'tiers.pro.storage.type',
      'tiers.pro.storage.iops',
      'tiers.enterprise.backupRetentionDays',
      'tiers.enterprise.multiAz',
    ]);
  });

  it('rejects unknown keys at every level, naming each', () => {
    const raw = {
      ...withEdit((t) => {
        t.pro.storageAutoscaling = true;
        t.pro.storage.encrypted = true;
        t.enterprise.tier = 'enterprise';
      }),
      version: 1,
    };
    expect(errorOf(() => parseTierProfiles(raw)).problems).toEqual(
      expect.arrayContaining([
        { path: 'version', message: 'is not a known field' },
        { path: 'tiers.pro.storageAutoscaling', message: 'is not a known field' },
        { path: 'tiers.pro.storage.encrypted', message: 'is not a known field' },
        { path: 'tiers.enterprise.tier', message: 'is not a known field' },
      ]),
    );
    expect(problemPaths(raw)).toHaveLength(4);
  });

  it('rejects an unknown tier', () => {
    const raw = withEdit((t) => {
      t.platinum = structuredClone(t.enterprise);
    });
    expect(problemPaths(raw)).toEqual(['tiers.platinum']);
  });

  it('requires every tier', () => {
    const raw = withEdit((t) => {
      delete t.enterprise;
    });
    expect(errorOf(() => parseTierProfiles(raw)).problems).toEqual([
      { path: 'tiers.enterprise', message: 'is required' },
    ]);
  });

  it('names a missing field as required', () => {
    const raw = withEdit((t) => {
      delete t.pro.backupRetentionDays;
    });
    expect(errorOf(() => parseTierProfiles(raw)).problems).toEqual([
      { path: 'tiers.pro.backupRetentionDays', message: 'is required' },
    ]);
  });

  it('rejects a document that is not an object', () => {
    expect(problemPaths(null)).toEqual(['(document)']);
    expect(problemPaths([])).toEqual(['(document)']);
  });
});

describe('loadTierProfiles', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'silo-tier-profiles-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('loads a valid custom file', () => {
    const file = join(dir, 'custom.json');
    const document = withEdit((t) => {
      t.pro.instanceClass = 'db.m6i.xlarge';
      t.pro.multiAz = true;
      t.pro.storage = { type: 'gp3', allocatedGiB: 1000, iops: 20_000 };
    });
    writeFileSync(file, JSON.stringify(document));

    const profiles = loadTierProfiles(file);
    expect(profiles.pro).toEqual({
      ...DEFAULT_TIER_PROFILES.pro,
      instanceClass: 'db.m6i.xlarge',
      multiAz: true,
      storage: { type: 'gp3', allocatedGiB: 1000, iops: 20_000 },
    });
    expect(profiles.starter).toEqual(DEFAULT_TIER_PROFILES.starter);
  });

  it('loads a file written before placements: every tier an instance of its own', () => {
    const file = join(dir, 'before-placements.json');
    writeFileSync(file, JSON.stringify(documentBeforePlacements()));
    const profiles = loadTierProfiles(file);
    expect(Object.values(profiles).map((p) => [p.tier, p.placement, p.instanceClass])).toEqual([
      ['starter', 'instance', 'db.t3.micro'],
      ['pro', 'instance', 'db.t3.small'],
      ['enterprise', 'instance', 'db.m6i.large'],
    ]);
  });

  it('names a missing file', () => {
    const file = join(dir, 'missing.json');
    const error = errorOf(() => loadTierProfiles(file));
    expect(error.problems).toEqual([{ path: file, message: 'file does not exist' }]);
    expect(error.message).toContain(file);
  });

  it('names a file that is not JSON', () => {
    const file = join(dir, 'broken.json');
    writeFileSync(file, '{"tiers": ');
    const error = errorOf(() => loadTierProfiles(file));
    expect(error.problems).toEqual([{ path: file, message: expect.stringMatching(/^is not valid JSON/) }]);
  });

  it('names the file and every problem when its profiles are invalid', () => {
    const file = join(dir, 'invalid.json');
    writeFileSync(
      file,
      JSON.stringify(
        withEdit((t) => {
          t.starter.storage.throughputMiBps = 500;
          t.enterprise.performanceInsights.retentionDays = 365;
        }),
      ),
    );
    const error = errorOf(() => loadTierProfiles(file));
    expect(error.file).toBe(file);
    expect(error.message).toMatch(new RegExp(`^Invalid tier profiles in ${file} \\(2 problems\\):`));
    expect(error.problems.map((p) => p.path)).toEqual([
      'tiers.starter.storage.throughputMiBps',
      'tiers.enterprise.performanceInsights.retentionDays',
    ]);
  });
});
