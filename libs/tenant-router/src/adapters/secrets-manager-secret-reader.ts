import {
  GetSecretValueCommand,
  ResourceNotFoundException,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';

/** A secret's JSON value by name, or null when there is none (what the adapters read through). */
export interface SecretReader {
  read(name: string): Promise<Record<string, unknown> | null>;
}

/** A secret that is not a JSON object. Names the secret, never its value. */
export class SecretShapeError extends Error {
  override readonly name = 'SecretShapeError';
}

/**
 * Reads secrets' AWSCURRENT JSON with an application's own SecretsManagerClient (its region,
 * endpoint and credentials; the AWS SDK retries and throttles). A missing secret is null.
 */
export class SecretsManagerSecretReader implements SecretReader {
  constructor(private readonly client: Pick<SecretsManagerClient, 'send'>) {}

  async read(name: string): Promise<Record<string, unknown> | null> {
    let text: string | undefined;
    try {
      // AWSCURRENT named: moto answers a read without a stage with the secret's first version.
      const out = await this.client.send(
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
