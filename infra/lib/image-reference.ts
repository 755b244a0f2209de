/** An image in Amazon ECR, from its URI. */
export interface EcrImageReference {
  account: string;
  region: string;
  repositoryName: string;
}

const ECR_IMAGE =
  /^(\d{12})\.dkr\.ecr(?:-fips)?\.([a-z]{2}(?:-[a-z]+)+-\d)\.amazonaws\.com(?:\.cn)?\/([a-z0-9][a-z0-9._/-]*?)(?::[\w][\w.-]{0,127}|@sha256:[0-9a-f]{64})$/;

/**
 * The ECR repository of `uri` (`<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>` or
 * `…@sha256:<digest>`); undefined for an image in another registry.
 */
export function ecrImageOf(uri: string): EcrImageReference | undefined {
  const match = ECR_IMAGE.exec(uri);
  return match ? { account: match[1], region: match[2], repositoryName: match[3] } : undefined;
}

/**
 * Amazon RDS's CA bundle inside Silo's image (the build writes it: scripts/copy-build-assets.mjs),
 * the default of TENANT_DB_CA_FILE and NODE_EXTRA_CA_CERTS; the image check reads it there.
 */
export const IMAGE_RDS_CA_BUNDLE = '/app/dist/certs/rds-ca-bundle.pem';
