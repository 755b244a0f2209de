import {
  GetSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
  type SecretsManagerClientConfig,
} from '@aws-sdk/client-secrets-manager';

/** A secret's JSON value by name, or null when there is none (what the adapters read through). */
export interface SecretReader {
  read(name: string): Promise<Record<string, unknown> | null>;
  /**
   * The same reader in another region (that region's Secrets Manager). Secret names are the same
   * in every region: the region decides which one is read. A reader without it reads every
   * secret where it is.
   */
  inRegion?(region: string): SecretReader;
}

/** A secret that is not a JSON object. Names the secret, never its value. */
export class SecretShapeError extends Error {
  override readonly name = 'SecretShapeError';
}

type SecretsClient = Pick<SecretsManagerClient, 'send'>;

/**
 * Secrets Manager clients by region, for an application serving tenants of several regions: the
 * default region's (`region`, else the SDK's own default, AWS_REGION; for the tenants whose region
 * is null) and each other region's, made on its first use with the same endpoint and credentials,
 * all destroyed by {@link destroy}. A
 * tenant's secrets are read in its own region only, never in another one's (after a move between
 * regions the source region may still hold a secret of the same name, with the old login).
 */
export class SecretsManagerClients {
  /** By region; the default region's under '' when it is the SDK's to resolve. */
  private readonly clients = new Map<string, SecretsClient & { destroy(): void }>();
  private destroyed = false;

  constructor(
    /** The SDK's settings; `region` is the default region's (unset: AWS_REGION, as the SDK reads it). */
    private readonly settings: SecretsManagerClientConfig,
    private readonly create: (config: SecretsManagerClientConfig) => SecretsClient & { destroy(): void } = (
      config,
    ) => new SecretsManagerClient(config),
  ) {}

  /** The client of `region` (null: the default region's), made on first use. */
  forRegion(region: string | null | undefined): SecretsClient {
    if (this.destroyed) throw new Error('the Secrets Manager clients are destroyed');
    const key = region ?? (typeof this.settings.region === 'string' ? this.settings.region : '');
    let client = this.clients.get(key);
    if (client === undefined) {
      client = this.create(region ? { ...this.settings, region } : { ...this.settings });
      this.clients.set(key, client);
    }
    return client;
  }

  /** Destroys every client made (their sockets); idempotent. */
  destroy(): void {
    this.destroyed = true;
    for (const client of this.clients.values()) client.destroy();
    this.clients.clear();
  }
}

/**
 * Reads secrets' AWSCURRENT JSON with an application's own Secrets Manager client(s) (the AWS SDK
 * retries and throttles). Given {@link SecretsManagerClients}, it reads in the default region and
 * `inRegion(region)` reads in another (a tenant's own); given one client, it reads every secret in
 * that client's region (`inRegion` is itself), which fits an application whose tenants all live
 * in one region. A missing secret is null.
 */
export class SecretsManagerSecretReader implements SecretReader {
  private readonly regions = new Map<string, SecretsManagerSecretReader>();

  constructor(
    private readonly clients: SecretsClient | Pick<SecretsManagerClients, 'forRegion'>,
    /** The region this reader reads in; undefined: the default one. */
    private readonly region?: string,
  ) {}

  inRegion(region: string): SecretsManagerSecretReader {
    if (!('forRegion' in this.clients) || region === this.region) return this;
    let reader = this.regions.get(region);
    if (reader === undefined) {
      reader = new SecretsManagerSecretReader(this.clients, region);
      this.regions.set(region, reader);
    }
    return reader;
  }

  async read(name: string): Promise<Record<string, unknown> | null> {
    const client = 'forRegion' in this.clients ? this.clients.forRegion(this.region) : this.clients;
    let text: string | undefined;
    try {
      // AWSCURRENT named: moto answers a read without a stage with the secret's first version.
      const out = await client.send(
        new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSCURRENT' }),
      );
      text = out.SecretString;
    } catch (error) {
      if (error instanceof ResourceNotFoundException) return null;
      throw error;
    }
    if (!text) return null;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new SecretShapeError(`secret ${name} does not hold JSON`);
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
      throw new SecretShapeError(`secret ${name} does not hold a JSON object`);
    return parsed as Record<string, unknown>;
  }
}
